"""Connection settings per statement (SET LOCAL), and behind PgBouncer in transaction pooling
mode: timeouts hold, no session state leaks, LISTEN and migrations go direct."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import psycopg2
import pytest
from flask import Flask
from psycopg2 import sql

from app import create_app
from app.db import get_pool
from app.worker import current_worker
from tests.helpers import create_application, create_configuration, server_dsn
from tests.pgbouncer import PgBouncer, require_pgbouncer, running_pgbouncer

UNREACHABLE = "postgresql://postgres@127.0.0.1:1/none"


@pytest.fixture(scope="module")
def single() -> Iterator[PgBouncer]:
    """A PgBouncer of our own with one server connection, so every client shares it."""
    require_pgbouncer()
    with running_pgbouncer(server_dsn(), pool_size=1) as bouncer:
        yield bouncer


@pytest.fixture
def make_app(database_url: str) -> Iterator[Any]:
    """Build apps from settings over the session database; stop their pools and listeners."""
    made: list[Flask] = []

    def make(**settings: Any) -> Flask:
        base = {"DATABASE_URL": database_url, "TESTING": True, "AUTH_ENABLED": False}
        made.append(create_app({**base, **settings}))
        return made[-1]

    yield make
    for application in made:
        current_worker(application).shutdown()


def settings_of(conn: Any) -> dict[str, Any]:
    """Return the settings a connection's session has (a plain cursor: no SET LOCAL)."""
    with conn.cursor(cursor_factory=psycopg2.extensions.cursor) as cur:
        cur.execute("SELECT current_setting('statement_timeout'), current_setting('TimeZone')")
        timeout, zone = cur.fetchone()
    return {"timeout": timeout, "zone": zone}


def test_each_statement_carries_the_settings_and_leaves_none_behind(
    make_app: Any, database_url: str
) -> None:
    defaults = psycopg2.connect(database_url)
    application = make_app(DB_STATEMENT_TIMEOUT_MS=1234)
    pool = get_pool(application)
    conn = pool.getconn()
    try:
        with conn.cursor() as cur:
            cur.execute(sql.SQL("SELECT current_setting({})").format(sql.Literal("TimeZone")))
            zone = list(cur.fetchone().values())
            cur.execute("SELECT current_setting('statement_timeout') AS timeout")
            timeout = cur.fetchone()["timeout"]
        session = settings_of(conn)
    finally:
        pool.putconn(conn)
    expected = settings_of(defaults)
    defaults.close()

    assert (timeout, zone) == ("1234ms", ["UTC"])
    assert session == expected  # SET LOCAL: nothing stays on the session


def test_the_suite_runs_through_pgbouncer_when_asked(
    pgbouncer: PgBouncer | None, app: Flask, database_url: str
) -> None:
    if pgbouncer is None:
        pytest.skip("TEST_PGBOUNCER is not set: the suite talks to PostgreSQL directly")
    assert psycopg2.extensions.parse_dsn(app.config["DATABASE_URL"])["port"] == str(pgbouncer.port)
    assert app.config["DATABASE_LISTEN_URL"] == database_url
    assert app.test_client().get("/readyz").status_code == 200


def test_statement_timeout_holds_through_pgbouncer(
    single: PgBouncer, make_app: Any, database_url: str
) -> None:
    application = make_app(
        DATABASE_URL=single.url(database_url),
        DATABASE_LISTEN_URL=database_url,
        DB_STATEMENT_TIMEOUT_MS=300,
    )
    client = application.test_client()
    configuration = create_configuration(client, create_application(client)["id"])
    path = f"/api/v1/configurations/{configuration['id']}"
    locker = psycopg2.connect(database_url)  # direct: holds the lock in its own transaction
    try:
        with locker.cursor() as cur:
            cur.execute("LOCK TABLE configurations IN ACCESS EXCLUSIVE MODE")
        started = time.monotonic()
        blocked = client.get(path)
        elapsed = time.monotonic() - started
    finally:
        locker.rollback()
        locker.close()

    assert blocked.status_code == 503, blocked.get_json()
    assert blocked.headers["Retry-After"]
    assert 0.25 < elapsed < 2.0
    assert client.get(path).status_code == 200


def test_no_session_state_leaks_to_the_next_client(
    single: PgBouncer, make_app: Any, database_url: str
) -> None:
    direct = psycopg2.connect(database_url)
    bounced = psycopg2.connect(single.url(database_url))
    bounced.autocommit = direct.autocommit = True
    try:
        defaults = settings_of(direct)
        application = make_app(
            DATABASE_URL=single.url(database_url),
            DATABASE_LISTEN_URL=database_url,
            DB_STATEMENT_TIMEOUT_MS=1234,
        )
        client = application.test_client()
        configuration = create_configuration(client, create_application(client)["id"])
        path = f"/api/v1/configurations/{configuration['id']}"
        assert client.patch(path, json={"config": {"a": 1}}).status_code == 200
        assert client.get(path).status_code == 200
        after = settings_of(bounced)  # on the one server connection the service just used
    finally:
        direct.close()
        bounced.close()

    # One server connection in the pool: the service's statements ran on it just before.
    assert (after["timeout"], after["zone"]) == (defaults["timeout"], defaults["zone"])


def test_flask_migrate_goes_to_the_direct_url(make_app: Any, database_url: str) -> None:
    # DATABASE_URL leads nowhere: only the direct URL can answer.
    application = make_app(DATABASE_URL=UNREACHABLE, DATABASE_LISTEN_URL=database_url)
    result = application.test_cli_runner().invoke(args=["migrate", "--status"])
    assert result.exit_code == 0, result.output
    assert result.output.startswith("applied ")


def test_the_listener_connects_to_the_direct_url(make_app: Any, database_url: str) -> None:
    application = make_app(DATABASE_URL=UNREACHABLE, DATABASE_LISTEN_URL=database_url)
    assert current_worker(application).listener.connected.wait(5)
