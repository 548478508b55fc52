"""The connection pool: borrowing per request, exhaustion, broken connections, timeouts, fork."""

from __future__ import annotations

import json
import os
import socket
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import psycopg2
import pytest
from flask import Flask, g
from psycopg2 import sql

from app import migrations
from app.db import PoolTimeout, get_conn, get_pool, transaction
from app.worker import current_worker
from tests.helpers import MIGRATIONS_DIR

IDLE = psycopg2.extensions.TRANSACTION_STATUS_IDLE
PROBLEM = "application/problem+json"


def idle(pool: Any) -> list[Any]:
    """The pool's idle connections (psycopg2 keeps them in `_pool`)."""
    return list(pool._pool)


def sleep_in_database(seconds: float, in_transaction: bool = False) -> Callable[[], Any]:
    """Build a test-only view that sleeps in the database on the request's connection."""

    def view() -> Any:
        if in_transaction:
            with transaction() as conn, conn.cursor() as cur:
                cur.execute("SELECT pg_sleep(%(s)s)", {"s": seconds})
        else:
            with get_conn().cursor() as cur:
                cur.execute("SELECT pg_sleep(%(s)s)", {"s": seconds})
        return {"slept": seconds}

    return view


def wait_until_gone(db: Any, backend_pid: int, deadline: float = 5.0) -> None:
    """Poll until a terminated backend has left pg_stat_activity."""
    until = time.monotonic() + deadline
    with db.cursor() as cur:
        while time.monotonic() < until:
            cur.execute("SELECT count(*) AS n FROM pg_stat_activity WHERE pid = %s", (backend_pid,))
            if cur.fetchone()["n"] == 0:
                return
            time.sleep(0.01)
    pytest.fail(f"backend {backend_pid} is still alive")


def terminate(db: Any, backend_pid: int) -> None:
    with db.cursor() as cur:
        cur.execute("SELECT pg_terminate_backend(%s) AS done", (backend_pid,))
        assert cur.fetchone()["done"]
    wait_until_gone(db, backend_pid)


def backend_states(db: Any, pids: list[int]) -> dict[int, str]:
    with db.cursor() as cur:
        cur.execute("SELECT pid, state FROM pg_stat_activity WHERE pid = ANY(%s)", (pids,))
        return {row["pid"]: row["state"] for row in cur.fetchall()}


def test_exhausted_pool_answers_503_within_the_pool_timeout(make_app: Callable[..., Flask]) -> None:
    application = make_app(DB_POOL_MIN=1, DB_POOL_MAX=1, DB_POOL_TIMEOUT=1)
    pool = get_pool(application)
    held = pool.getconn()
    try:
        started = time.monotonic()
        response = application.test_client().get("/readyz")
        elapsed = time.monotonic() - started
    finally:
        pool.putconn(held)

    assert response.status_code == 503
    assert response.mimetype == PROBLEM
    assert response.get_json()["status"] == 503
    assert int(response.headers["Retry-After"]) >= 1
    assert 0.9 <= elapsed < 2.0
    assert application.test_client().get("/readyz").status_code == 200
    assert pool.in_use == 0


def test_waiting_borrower_gets_a_connection_freed_in_time(make_app: Callable[..., Flask]) -> None:
    application = make_app(DB_POOL_MIN=1, DB_POOL_MAX=1, DB_POOL_TIMEOUT=5)
    pool = get_pool(application)
    held = pool.getconn()
    # Freed by a timer while the request waits for a slot.
    timer = threading.Timer(0.3, pool.putconn, args=(held,))
    timer.start()
    try:
        response = application.test_client().get("/readyz")
    finally:
        timer.join()
    assert response.status_code == 200
    assert pool.in_use == 0


def test_broken_idle_connection_is_discarded(make_app: Callable[..., Flask], db: Any) -> None:
    application = make_app(DB_POOL_MIN=1, DB_POOL_MAX=2)
    pool = get_pool(application)
    broken = pool.getconn()
    broken_pid = broken.info.backend_pid
    pool.putconn(broken)
    assert idle(pool) == [broken]
    terminate(db, broken_pid)

    client = application.test_client()
    statuses = [client.get("/readyz").status_code for _ in range(5)]

    assert statuses == [200] * 5
    assert broken.closed
    assert all(conn is not broken for conn in idle(pool))
    borrowed = [pool.getconn(), pool.getconn()]
    try:
        assert all(conn is not broken for conn in borrowed)
        assert broken_pid not in {conn.info.backend_pid for conn in borrowed}
    finally:
        for conn in borrowed:
            pool.putconn(conn)


def test_connection_broken_during_a_request_answers_503_and_is_discarded(
    make_app: Callable[..., Flask],
) -> None:
    application = make_app(DB_POOL_MIN=1, DB_POOL_MAX=1, DB_POOL_TIMEOUT=1)

    def suicide() -> Any:
        with get_conn().cursor() as cur:
            cur.execute("SELECT pg_terminate_backend(pg_backend_pid())")
        return {}

    application.add_url_rule("/_test/terminate", "terminate", suicide)
    pool = get_pool(application)
    [victim] = idle(pool)
    client = application.test_client()

    response = client.get("/_test/terminate")

    assert response.status_code == 503
    assert response.mimetype == PROBLEM
    assert "Retry-After" in response.headers
    assert victim.closed
    assert pool.in_use == 0
    assert victim not in idle(pool)
    assert client.get("/readyz").status_code == 200  # the slot was given back


def test_connections_return_without_a_pushed_app_context(make_app: Callable[..., Flask]) -> None:
    application = make_app(DB_POOL_MIN=1, DB_POOL_MAX=1, DB_POOL_TIMEOUT=1)
    pool = get_pool(application)
    client = application.test_client()
    for _ in range(5):
        # With DB_POOL_MAX=1 a connection kept past its request would turn the next into a 503.
        assert client.get("/readyz").status_code == 200
        assert pool.in_use == 0
        assert len(idle(pool)) == 1
    assert client.get("/api/v1/applications").status_code == 200
    assert pool.in_use == 0
    assert len(idle(pool)) == 1


def test_connections_return_within_pytest_flask_context(app: Flask, client: Any) -> None:
    pool = get_pool(app)
    for _ in range(3):
        assert client.get("/readyz").status_code == 200
        assert pool.in_use == 0
        assert "db_conn" not in g  # the pushed context's g outlives requests: it must be empty
    assert len(idle(pool)) == app.config["DB_POOL_MIN"]


def test_failed_write_leaves_no_open_transaction(make_app: Callable[..., Flask], db: Any) -> None:
    application = make_app(DB_POOL_MIN=1, DB_POOL_MAX=1, DB_POOL_TIMEOUT=1)
    pool = get_pool(application)
    client = application.test_client()
    assert client.post("/api/v1/applications", json={"name": "dup"}).status_code == 201

    response = client.post("/api/v1/applications", json={"name": "dup"})

    assert response.status_code == 409
    assert pool.in_use == 0
    [conn] = idle(pool)
    assert conn.info.transaction_status == IDLE
    assert conn.autocommit
    assert backend_states(db, [conn.info.backend_pid]) == {conn.info.backend_pid: "idle"}
    assert client.post("/api/v1/applications", json={"name": "other"}).status_code == 201
    assert idle(pool) == [conn]


def test_connections_beyond_the_minimum_stay_idle(make_app: Callable[..., Flask], db: Any) -> None:
    application = make_app(DB_POOL_MIN=1, DB_POOL_MAX=3, DB_POOL_TIMEOUT=1)
    pool = get_pool(application)
    assert len(idle(pool)) == 1
    first = [pool.getconn() for _ in range(3)]
    with pytest.raises(PoolTimeout):
        pool.getconn()
    for conn in first:
        pool.putconn(conn)

    assert len(idle(pool)) == 3
    assert not any(conn.closed for conn in first)
    pids = [conn.info.backend_pid for conn in first]
    assert backend_states(db, pids) == dict.fromkeys(pids, "idle")
    second = [pool.getconn() for _ in range(3)]
    try:
        assert {id(conn) for conn in second} == {id(conn) for conn in first}
    finally:
        for conn in second:
            pool.putconn(conn)


@pytest.mark.parametrize("in_transaction", [False, True])
def test_statement_timeout_answers_503_and_the_connection_survives(
    make_app: Callable[..., Flask], db: Any, in_transaction: bool
) -> None:
    application = make_app(DB_POOL_MIN=1, DB_POOL_MAX=1, DB_STATEMENT_TIMEOUT_MS=100)
    application.add_url_rule("/_test/sleep", "sleep", sleep_in_database(1, in_transaction))
    pool = get_pool(application)
    [conn] = idle(pool)
    client = application.test_client()

    started = time.monotonic()
    response = client.get("/_test/sleep")

    assert time.monotonic() - started < 0.9
    assert response.status_code == 503
    assert response.mimetype == PROBLEM
    assert "Retry-After" in response.headers
    assert idle(pool) == [conn]  # kept: a cancelled statement does not break a connection
    assert conn.info.transaction_status == IDLE
    assert backend_states(db, [conn.info.backend_pid]) == {conn.info.backend_pid: "idle"}
    assert client.get("/readyz").status_code == 200
    assert idle(pool) == [conn]


def test_pool_is_made_anew_in_a_forked_child(make_app: Callable[..., Flask]) -> None:
    application = make_app(DB_POOL_MIN=2, DB_POOL_MAX=2)
    parent_pids = [conn.info.backend_pid for conn in idle(get_pool(application))]
    parent_pool_id = id(get_pool(application))
    reader, writer = os.pipe()

    child = os.fork()
    if child == 0:  # pragma: no cover - runs in the child, which never returns to pytest
        _child_reports(application, writer)
    os.close(writer)
    with os.fdopen(reader) as stream:
        report = json.loads(stream.read() or "{}")
    _, status = os.waitpid(child, 0)

    assert os.waitstatus_to_exitcode(status) == 0, report
    assert report["pool_pid"] == report["pid"] != os.getpid()
    assert report["new_pool"] is True
    assert report["backend_pid"] not in parent_pids
    pool = get_pool(application)
    assert id(pool) == parent_pool_id and pool.pid == os.getpid()
    # The child dropped the inherited pool without ending the parent's sessions.
    assert sorted(conn.info.backend_pid for conn in idle(pool)) == sorted(parent_pids)
    for conn in idle(pool):
        with conn.cursor() as cur:
            cur.execute("SELECT pg_backend_pid() AS pid")
            assert cur.fetchone()["pid"] == conn.info.backend_pid
    assert application.test_client().get("/readyz").status_code == 200


def _child_reports(application: Flask, writer: int) -> None:
    """In a forked child: get the pool, use it, drop the inherited one, report, exit."""
    import gc

    code = 1
    try:
        inherited_id = id(current_worker(application).running()[0])
        pool = get_pool(application)
        conn = pool.getconn()
        with conn.cursor() as cur:
            cur.execute("SELECT pg_backend_pid() AS pid")
            backend_pid = cur.fetchone()["pid"]
        pool.putconn(conn)
        gc.collect()  # the inherited pool is garbage now; freeing it must not hurt the parent
        report = {
            "pid": os.getpid(),
            "pool_pid": pool.pid,
            "new_pool": id(pool) != inherited_id,
            "backend_pid": backend_pid,
        }
        pool.closeall()
        os.write(writer, json.dumps(report).encode())
        code = 0
    finally:
        os._exit(code)


def test_unreachable_database_answers_503_quickly(make_app: Callable[..., Flask]) -> None:
    application = make_app(
        DATABASE_URL="postgresql://postgres@127.0.0.1:1/none", DB_CONNECT_TIMEOUT=1
    )
    client = application.test_client()
    for path in ("/readyz", "/api/v1/applications"):
        started = time.monotonic()
        response = client.get(path)
        assert time.monotonic() - started < 2.0
        assert response.status_code == 503
        assert response.mimetype == PROBLEM
        assert "Retry-After" in response.headers
        assert "127.0.0.1" not in response.get_data(as_text=True)  # no driver message


def test_silent_server_answers_503_after_the_connect_timeout(
    make_app: Callable[..., Flask],
) -> None:
    # A socket that accepts connections (the kernel does) but never says a word.
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        port = silent.getsockname()[1]
        application = make_app(
            DATABASE_URL=f"postgresql://postgres@127.0.0.1:{port}/none", DB_CONNECT_TIMEOUT=1
        )
        client = application.test_client()
        for _ in range(2):
            started = time.monotonic()
            response = client.get("/readyz")
            elapsed = time.monotonic() - started
            assert response.status_code == 503
            assert "Retry-After" in response.headers
            assert 0.9 <= elapsed < 2.0


@pytest.fixture
def outage_database(databases: Any) -> Iterator[tuple[str, Callable[[bool], None]]]:
    """A migrated database of its own, and a switch that refuses or allows connections to it."""
    dsn = databases.create()
    migrations.migrate(dsn, MIGRATIONS_DIR)
    name = psycopg2.extensions.parse_dsn(dsn)["dbname"]
    admin = psycopg2.connect(databases.dsn)
    admin.autocommit = True

    def allow(allowed: bool) -> None:
        with admin.cursor() as cur:
            cur.execute(
                sql.SQL("ALTER DATABASE {} ALLOW_CONNECTIONS {}").format(
                    sql.Identifier(name), sql.Literal(allowed)
                )
            )
            if not allowed:
                cur.execute(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s",
                    (name,),
                )
                _wait_for_no_sessions(cur, name)

    yield dsn, allow
    allow(True)
    admin.close()


def _wait_for_no_sessions(cur: Any, name: str) -> None:
    until = time.monotonic() + 5
    while time.monotonic() < until:
        cur.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = %s", (name,))
        if cur.fetchone()[0] == 0:
            return
        time.sleep(0.01)
    pytest.fail(f"sessions on {name} survived termination")


def test_service_recovers_after_a_database_outage(
    make_app: Callable[..., Flask], outage_database: tuple[str, Callable[[bool], None]]
) -> None:
    dsn, allow = outage_database
    application = make_app(DATABASE_URL=dsn, DB_POOL_MIN=1, DB_POOL_MAX=1, DB_POOL_TIMEOUT=1)
    client = application.test_client()
    assert client.get("/readyz").status_code == 200
    pool = get_pool(application)
    [before] = idle(pool)

    allow(False)  # the server ends every session and refuses new ones
    down = [client.get("/readyz") for _ in range(3)]
    allow(True)
    up = [client.get("/readyz").status_code for _ in range(3)]

    assert [r.status_code for r in down] == [503] * 3
    assert all("Retry-After" in r.headers for r in down)
    assert up == [200] * 3  # no restart; the dead connection is not handed out again
    assert pool.in_use == 0
    assert before.closed and before not in idle(pool)


def test_service_started_during_an_outage_recovers(
    make_app: Callable[..., Flask], outage_database: tuple[str, Callable[[bool], None]]
) -> None:
    dsn, allow = outage_database
    allow(False)
    application = make_app(DATABASE_URL=dsn, DB_POOL_MIN=1, DB_POOL_MAX=1, DB_POOL_TIMEOUT=1)
    client = application.test_client()

    assert client.get("/readyz").status_code == 503  # the pool cannot even open its minimum
    allow(True)

    assert [client.get("/readyz").status_code for _ in range(3)] == [200] * 3
    assert get_pool(application).in_use == 0
