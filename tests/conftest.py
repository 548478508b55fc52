"""Fixtures: one throwaway database per test session, migrated by the real code."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from typing import Any

import psycopg2
import pytest
from psycopg2 import sql
from psycopg2.extensions import make_dsn
from psycopg2.extras import RealDictCursor

from app import create_app, migrations
from app.live.listener import TABLE_TRUNCATED
from app.worker import current_worker
from tests.helpers import MIGRATIONS_DIR, server_dsn
from tests.pgbouncer import PgBouncer, routing_through, running_pgbouncer, through_pgbouncer

# The browser tests' fixtures (site, chromium, console); Playwright is imported only when used.
pytest_plugins = ["tests.browser"]


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


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Run a module marked `BOTH_PATHS = True` with the fast path on and off: its requests
    must get the same answers either way."""
    if getattr(metafunc.module, "BOTH_PATHS", False) and "fast_path" in metafunc.fixturenames:
        metafunc.parametrize("fast_path", [True, False], ids=["fast", "flask"])


@pytest.fixture
def fast_path() -> bool:
    """Whether the test app answers cached reads ahead of Flask (FAST_PATH)."""
    return True


@pytest.fixture
def app_settings(database_url: str, service_url: str, fast_path: bool) -> dict[str, Any]:
    """Settings for the test app; a test may change them before asking for `app`."""
    return {
        "DATABASE_URL": service_url,
        # behind PgBouncer, LISTEN and `flask migrate` go direct
        "DATABASE_LISTEN_URL": database_url if service_url != database_url else "",
        "TESTING": True,
        "DB_POOL_TIMEOUT": 2,
        "AUTH_ENABLED": False,  # tests/test_auth.py and friends turn it on
        "FAST_PATH": fast_path,
    }


@pytest.fixture
def app(app_settings: dict[str, Any]) -> Iterator[Any]:
    """The application, its pool closed after the test."""
    application = create_app(app_settings)
    yield application
    _shut_down(application)


@pytest.fixture
def make_app(database_url: str, fast_path: bool) -> Iterator[Any]:
    """Build extra apps inside a test (no pushed context; log handler on the captured stderr)."""
    made: list[Any] = []

    def make(**overrides: Any) -> Any:
        settings = {"DATABASE_URL": database_url, "TESTING": True, "AUTH_ENABLED": False}
        settings["FAST_PATH"] = fast_path
        application = create_app({**settings, **overrides})
        made.append(application)
        return application

    yield make
    for application in made:
        _shut_down(application)


def _shut_down(application: Any) -> None:
    """Stop what the app started in this process: listener, pool, metrics sampler."""
    current_worker(application).shutdown()


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
