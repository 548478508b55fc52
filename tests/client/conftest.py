"""Fixtures for the client's tests: a real gunicorn with auth on, tokens, the command line."""

from __future__ import annotations

import http.client
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import suppress
from pathlib import Path
from typing import Any

import psycopg2
import pytest

from app.web.tokens import create_token, revoke_token
from tests import servers
from tests.servers import Gunicorn, running_gunicorn

CLI = [sys.executable, "-m", "config_service_client"]
AUTH = {"AUTH_ENABLED": "true"}


def make_token(database_url: str, role: str) -> tuple[str, str]:
    """Create a token straight in the database; return (name, secret)."""
    name = f"client-{role}-{uuid.uuid4().hex[:8]}"
    conn = psycopg2.connect(database_url)
    try:
        with conn:
            secret = create_token(conn, name, role, "tests")
    finally:
        conn.close()
    return name, secret


def revoke(database_url: str, name: str) -> None:
    """Revoke a token; every worker forgets it at the NOTIFY of the commit."""
    conn = psycopg2.connect(database_url)
    try:
        with conn:
            revoke_token(conn, name, "tests")
    finally:
        conn.close()


class Api:
    """Writes through the HTTP API with a writer token, for setting up and changing configs."""

    def __init__(self, port: int, secret: str):
        self.port, self.secret = port, secret
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=15)

    def call(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        headers = {"Authorization": f"Bearer {self.secret}"}
        payload = None if body is None else json.dumps(body)
        if payload is not None:
            headers["Content-Type"] = "application/json"
        try:
            self.conn.request(method, path, body=payload, headers=headers)
            answer = self.conn.getresponse()
        except (OSError, http.client.HTTPException):
            self.conn.close()  # one retry on a fresh connection (a restarted server)
            self.conn.request(method, path, body=payload, headers=headers)
            answer = self.conn.getresponse()
        raw = answer.read()
        return answer.status, json.loads(raw) if raw else None

    def seed(self, app: str = "billing", name: str = "database", config: Any = None) -> dict:
        """Create (if needed) an application and a configuration; return the configuration."""
        status, body = self.call("POST", "/api/v1/applications", {"name": app})
        if status == 409:
            body = self.call("GET", f"/api/v1/applications/by-name/{app}")[1]
        else:
            assert status == 201, body
        created = {"application_id": body["id"], "name": name, "config": config or {"n": 0}}
        status, body = self.call("POST", "/api/v1/configurations", created)
        assert status == 201, body
        return body

    def patch(self, configuration_id: str, **fields: Any) -> dict:
        status, body = self.call("PATCH", f"/api/v1/configurations/{configuration_id}", fields)
        assert status == 200, body
        return body


class Service:
    """A running service as the client tests see it: its URL, tokens and a writer API."""

    def __init__(self, server: Gunicorn, database_url: str):
        self.server, self.database_url = server, database_url
        self.url = server.url()
        self.reader_name, self.reader = make_token(database_url, "reader")
        self.api = Api(server.port, make_token(database_url, "writer")[1])

    def args(self, cache_dir: Path | None = None) -> list[str]:
        """Return --url and --token (and --cache-dir) for the command line."""
        extra = ["--cache-dir", str(cache_dir)] if cache_dir else []
        return ["--url", self.url, "--token", self.reader, *extra]


@pytest.fixture(scope="module")
def gunicorn(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gunicorn]:
    """One gunicorn with auth on for a test module (its tables are emptied after each test)."""
    log = tmp_path_factory.mktemp("gunicorn") / "gunicorn.log"
    with running_gunicorn(database_url, log, workers=1, threads=64, env=AUTH) as server:
        yield server


@pytest.fixture
def service(gunicorn: Gunicorn, database_url: str) -> Service:
    """The module's service, with fresh tokens (the tables are emptied after each test)."""
    return Service(gunicorn, database_url)


def start_on_port(database_url: str, log: Path, port: int, **options: Any) -> Gunicorn:
    """Start gunicorn on this port (a restarted server keeps its address)."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(servers, "free_port", lambda: port)
        return servers.start_gunicorn(database_url, log, **options)


def cli_env() -> dict[str, str]:
    """The environment for the command line, without the caller's CONFIG_SERVICE_*."""
    return {k: v for k, v in os.environ.items() if not k.startswith("CONFIG_SERVICE_")}


def run_cli(*args: str, timeout: float = 30) -> subprocess.CompletedProcess[str]:
    """Run `config-service-client ARGS` to the end."""
    return subprocess.run(
        [*CLI, *args], capture_output=True, text=True, timeout=timeout, env=cli_env()
    )


class Watch:
    """A `config-service-client watch` process; its stderr goes to a file."""

    def __init__(self, args: list[str], stderr: Path):
        self.stderr_path = stderr
        with stderr.open("wb") as err:
            self.process = subprocess.Popen(
                [*CLI, "watch", *args], stdout=subprocess.DEVNULL, stderr=err, env=cli_env()
            )

    def stderr(self) -> str:
        return self.stderr_path.read_text(errors="replace")

    def stop(self) -> None:
        """End it by PID: SIGTERM, then SIGKILL if it does not go."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                with suppress(ProcessLookupError):
                    self.process.kill()
                self.process.wait(timeout=5)


@pytest.fixture
def watch(tmp_path: Path) -> Iterator[Callable[..., Watch]]:
    """Start `watch` processes; each is stopped by PID after the test."""
    started: list[Watch] = []

    def start(*args: str) -> Watch:
        process = Watch(list(args), tmp_path / f"watch-{len(started)}.stderr")
        started.append(process)
        return process

    yield start
    for process in started:
        process.stop()


def wait_until(check: Callable[[], Any], timeout: float = 10.0, what: str = "") -> float:
    """Poll until check() is true; return when it became true; fail after `timeout` s."""
    started = time.monotonic()
    while not check():
        assert time.monotonic() - started < timeout, f"timed out waiting for {what}"
        time.sleep(0.01)  # polling interval
    return time.monotonic()


def read_json(path: Path) -> Any:
    """Return the file's JSON, or None while it does not exist."""
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        return None
