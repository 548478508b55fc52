"""Fixtures: one throwaway database per test session, migrated by the real code."""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import psycopg2
import pytest
from prometheus_client.parser import text_string_to_metric_families
from psycopg2 import sql
from psycopg2.extensions import make_dsn
from psycopg2.extras import RealDictCursor

from app import create_app, migrations
from app.notifications import TABLE_TRUNCATED
from app.settings import PROJECT_ROOT
from tests.pgbouncer import PgBouncer, routing_through, running_pgbouncer, through_pgbouncer

MIGRATIONS_DIR = PROJECT_ROOT / "migrations"


def server_dsn() -> str:
    """Return a superuser DSN: TEST_DATABASE_URL, else the embedded dev server."""
    url = os.environ.get("TEST_DATABASE_URL")
    if url:
        return url
    from app.devdb import server_dsn as embedded_dsn

    return embedded_dsn(PROJECT_ROOT / ".devdb" / "pgdata")


def _admin(dsn: str) -> Any:
    conn = psycopg2.connect(dsn)
    conn.autocommit = True
    return conn


class Databases:
    """Create and drop throwaway databases on the test server."""

    def __init__(self, dsn: str):
        self.dsn = dsn
        self.created: list[str] = []

    def create(self, prefix: str = "cs_test") -> str:
        name = f"{prefix}_{uuid.uuid4().hex[:12]}"
        conn = _admin(self.dsn)
        try:
            with conn.cursor() as cur:
                cur.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        finally:
            conn.close()
        self.created.append(name)
        return make_dsn(self.dsn, dbname=name)

    def drop_all(self) -> None:
        conn = _admin(self.dsn)
        try:
            with conn.cursor() as cur:
                for name in self.created:
                    query = sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)")
                    cur.execute(query.format(sql.Identifier(name)))
        finally:
            conn.close()


@pytest.fixture(scope="session")
def databases() -> Iterator[Databases]:
    """Make throwaway databases; all are dropped when the session ends."""
    made = Databases(server_dsn())
    yield made
    made.drop_all()


@pytest.fixture(scope="session")
def database_url(databases: Databases) -> str:
    """The session's database, migrated once through the real migration code."""
    dsn = databases.create()
    migrations.migrate(dsn, MIGRATIONS_DIR)
    return dsn


@pytest.fixture(scope="session", autouse=True)
def pgbouncer() -> Iterator[PgBouncer | None]:
    """With TEST_PGBOUNCER=1, PgBouncer (transaction pooling) in front of the test server."""
    if os.environ.get("TEST_PGBOUNCER", "0") in ("", "0"):
        yield None
        return
    with running_pgbouncer(server_dsn()) as bouncer, routing_through(bouncer):
        yield bouncer


@pytest.fixture(scope="session")
def service_url(database_url: str, pgbouncer: PgBouncer | None) -> str:
    """The session database as the service reaches it: through PgBouncer when one runs."""
    return through_pgbouncer(database_url)


@pytest.fixture
def app_settings(database_url: str, service_url: str) -> dict[str, Any]:
    """Settings for the test app; a test may change them before asking for `app`."""
    return {
        "DATABASE_URL": service_url,
        # behind PgBouncer, LISTEN and `flask migrate` go direct
        "DATABASE_LISTEN_URL": database_url if service_url != database_url else "",
        "TESTING": True,
        "DB_POOL_TIMEOUT": 2,
        "AUTH_ENABLED": False,  # tests/test_auth.py and friends turn it on
    }


@pytest.fixture
def app(app_settings: dict[str, Any]) -> Iterator[Any]:
    """The application, its pool closed after the test."""
    application = create_app(app_settings)
    yield application
    _shut_down(application)


@pytest.fixture
def make_app(database_url: str) -> Iterator[Any]:
    """Build extra apps inside a test (no pushed context; log handler on the captured stderr)."""
    made: list[Any] = []

    def make(**overrides: Any) -> Any:
        settings = {"DATABASE_URL": database_url, "TESTING": True, "AUTH_ENABLED": False}
        application = create_app({**settings, **overrides})
        made.append(application)
        return application

    yield make
    for application in made:
        _shut_down(application)


def _shut_down(application: Any) -> None:
    """Stop what the app started in this process: its change listener and its pool."""
    from app.db import close_pool
    from app.notifications import stop_listener

    stop_listener(application)
    close_pool(application)


@pytest.fixture
def db(database_url: str) -> Iterator[Any]:
    """A direct connection for checking what the database holds."""
    conn = psycopg2.connect(database_url, cursor_factory=RealDictCursor)
    conn.autocommit = True
    yield conn
    conn.close()


@pytest.fixture(autouse=True)
def _empty_tables(request: pytest.FixtureRequest) -> Iterator[None]:
    """Give every test that uses the session database empty tables."""
    yield
    if "database_url" not in request.fixturenames:
        return
    conn = psycopg2.connect(request.getfixturevalue("database_url"))
    conn.autocommit = True
    try:
        with conn.cursor() as cur:
            cur.execute(
                "SELECT tablename FROM pg_tables WHERE schemaname = 'public'"
                " AND tablename <> 'schema_migrations'"
            )
            tables = [sql.Identifier(row[0]) for row in cur.fetchall()]
            # DELETE with triggers (and so foreign keys) off: ~0.5 ms, where TRUNCATE takes
            # ~18 ms a test. The NOTIFY a TRUNCATE would send tells any server still running
            # (a module's gunicorn) to forget its cache.
            cur.execute("SET session_replication_role = replica")
            for table in tables:
                cur.execute(sql.SQL("DELETE FROM {}").format(table))
            cur.execute("SELECT pg_notify(%s, '')", (TABLE_TRUNCATED,))
    finally:
        conn.close()


# Helpers the API tests share.


def scrape(client: Any) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Return every sample of /metrics as {(name, sorted labels): value}."""
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response.mimetype == "text/plain"
    return parse_metrics(response.get_data(as_text=True))


def parse_metrics(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Parse the Prometheus text format into {(name, sorted labels): value}."""
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


CACHE_DEADLINE = 1.0  # seconds another worker may keep a stale cached answer after a change


def listening(*apps: Any) -> None:
    """Start each app's change listener and wait until it listens (its cache is used then)."""
    from app.notifications import get_listener

    for application in apps:
        assert get_listener(application).connected.wait(5)


def within_deadline(check: Callable[[], bool]) -> float:
    """Poll until check() holds; fail unless it did within CACHE_DEADLINE; return the time."""
    started = time.monotonic()
    while not check():
        assert time.monotonic() - started < CACHE_DEADLINE, "the change did not arrive in time"
        time.sleep(0.005)
    return time.monotonic() - started


def assert_problem(response: Any, status: int) -> dict[str, Any]:
    """Check an RFC 9457 answer with this status and return its body."""
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == "application/problem+json"
    body = response.get_json()
    assert body["status"] == status
    assert body["type"] == "about:blank"
    assert body["title"]
    return body


def create_application(client: Any, name: str = "billing", **extra: Any) -> dict[str, Any]:
    """Create an application through the API and return its representation."""
    response = client.post("/api/v1/applications", json={"name": name, **extra})
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def create_configuration(
    client: Any, application_id: str, name: str = "database", config: Any = None, **extra: Any
) -> dict[str, Any]:
    """Create a configuration through the API and return its representation."""
    body = {"application_id": application_id, "name": name, "config": config or {}, **extra}
    response = client.post("/api/v1/configurations", json=body)
    assert response.status_code == 201, response.get_json()
    return response.get_json()
