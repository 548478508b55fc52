"""The service as the browser tests meet it: a gunicorn on a database of their own, tokens
for each role, and the HTTP API for setting up data and checking what a page wrote."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import psycopg2
from psycopg2.extras import RealDictCursor

from app import migrations
from app.web.tokens import create_token, revoke_token
from tests.helpers import MIGRATIONS_DIR
from tests.servers import Gunicorn, running_gunicorn

ROLES = ("admin", "writer", "reader")


def unique(prefix: str) -> str:
    """Return a name no other test uses (the tests share one database)."""
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


class Api:
    """The service's JSON API with one token: the tests' way to set up and check data."""

    def __init__(self, server: Gunicorn, token: str):
        self.server, self.token = server, token

    def call(
        self, method: str, path: str, body: Any = None, headers: dict[str, str] | None = None
    ) -> tuple[int, Any, dict[str, str]]:
        """Send one request; return (status, JSON body or None, headers)."""
        sent = {"Authorization": f"Bearer {self.token}", **(headers or {})}
        data = None
        if body is not None:
            data, sent["Content-Type"] = json.dumps(body).encode(), "application/json"
        conn = self.server.connection()
        try:
            conn.request(method, f"/api/v1{path}", body=data, headers=sent)
            response = conn.getresponse()
            raw = response.read()
            parsed = json.loads(raw) if raw else None
            return response.status, parsed, dict(response.getheaders())
        finally:
            conn.close()

    def ok(self, method: str, path: str, body: Any = None, **headers: str) -> Any:
        """Send one request that must succeed; return its JSON body."""
        status, answer, _ = self.call(method, path, body, headers)
        assert status < 300, f"{method} {path} answered {status}: {answer}"
        return answer

    def application(self, name: str | None = None) -> dict[str, Any]:
        return self.ok("POST", "/applications", {"name": name or unique("app")})

    def configuration(
        self,
        config: dict[str, Any],
        schema: Any = None,
        application_id: str | None = None,
        name: str | None = None,
    ) -> dict[str, Any]:
        """Create a configuration (in a new application unless one is given)."""
        body = {
            "application_id": application_id or self.application()["id"],
            "name": name or unique("cfg"),
            "config": config,
            "schema": schema,
        }
        return self.ok("POST", "/configurations", body)

    def get(self, configuration_id: str) -> dict[str, Any]:
        return self.ok("GET", f"/configurations/{configuration_id}")

    def replace(self, configuration_id: str, config: dict[str, Any]) -> dict[str, Any]:
        """Write a new config (keeping name, comments and schema): the next version."""
        current = self.get(configuration_id)
        body = {k: current[k] for k in ("name", "comments", "schema")}
        return self.ok("PUT", f"/configurations/{configuration_id}", {**body, "config": config})

    def version(self, configuration_id: str, version: int) -> dict[str, Any]:
        return self.ok("GET", f"/configurations/{configuration_id}/versions/{version}")


class Site:
    """The running service, its database and one token per role."""

    def __init__(self, server: Gunicorn, dsn: str, tokens: dict[str, str]):
        self.server, self.dsn, self.tokens = server, dsn, tokens
        self.api = Api(server, tokens["admin"])

    def url(self, path: str = "/console/") -> str:
        return self.server.url(path)

    def new_token(self, role: str, applications: list[str] | None = None) -> tuple[str, str]:
        """Create one more token (to revoke, or scoped to these applications); return
        (name, secret)."""
        name = unique(role)
        with self.connect() as conn:
            return name, create_token(conn, name, role, "browser-tests", applications or ())

    def revoke(self, name: str) -> None:
        with self.connect() as conn:
            revoke_token(conn, name, "browser-tests")

    @contextmanager
    def connect(self) -> Iterator[Any]:
        """A connection to the service's database, committed at the end of the block."""
        conn = psycopg2.connect(self.dsn, cursor_factory=RealDictCursor)  # rows as dicts
        try:
            with conn:
                yield conn
        finally:
            conn.close()


@contextmanager
def running_site(dsn: str, log: Path) -> Iterator[Site]:
    """Migrate the (empty) database at dsn, make the tokens, serve it with auth on."""
    migrations.migrate(dsn, MIGRATIONS_DIR)
    conn = psycopg2.connect(dsn)
    try:
        with conn:
            tokens = {role: create_token(conn, f"browser-{role}", role, "test") for role in ROLES}
    finally:
        conn.close()
    env = {"AUTH_ENABLED": "true", "LOG_LEVEL": "warning"}
    with running_gunicorn(dsn, log, workers=2, env=env) as server:
        yield Site(server, dsn, tokens)
