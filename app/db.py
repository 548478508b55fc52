"""The per-process connection pool, the per-request connection and the transaction helper."""

from __future__ import annotations

import os
import select
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from functools import partial
from typing import Any

import psycopg2
import psycopg2.extensions
from flask import Flask, current_app, g
from psycopg2 import sql
from psycopg2.pool import ThreadedConnectionPool

_IDLE = psycopg2.extensions.TRANSACTION_STATUS_IDLE


class PoolTimeout(Exception):
    """No pooled connection became free in time."""


# The settings every statement runs under, sent with the statement itself as SET LOCAL
# rather than as start-up `options`: PgBouncer in transaction pooling mode refuses
# `options` (and a session-level SET would leak to other clients of the same server
# connection), while SET LOCAL lasts exactly one transaction on whichever server
# connection runs it. In autocommit the string runs as one implicit transaction, still
# one round trip, and PostgreSQL times each statement of a string on its own.
SET_LOCAL = "SET LOCAL statement_timeout = {timeout:d}; SET LOCAL timezone = 'UTC'; "


class ServiceConnection(psycopg2.extensions.connection):
    """A connection that knows the SET LOCAL prelude its statements run under."""

    def __init__(self, dsn: str, *args: Any, statement_timeout_ms: int = 0, **kwargs: Any):
        super().__init__(dsn, *args, **kwargs)
        self.prelude = SET_LOCAL.format(timeout=statement_timeout_ms)


class ServiceCursor(psycopg2.extensions.cursor):
    """A cursor that sends its connection's prelude ahead of every statement and returns
    rows as dicts, made from the tuples in one go (RealDictCursor sets each column in
    Python: ~5 % of a read from the database)."""

    def execute(self, query: Any, vars: Any = None) -> Any:
        prelude = getattr(self.connection, "prelude", "")
        if isinstance(query, sql.Composable):
            query = sql.SQL(prelude) + query
        elif isinstance(query, str):
            query = prelude + query
        return super().execute(query, vars)

    def fetchone(self) -> dict[str, Any] | None:
        row = super().fetchone()
        return None if row is None else dict(zip(self._names(), row, strict=True))

    def fetchall(self) -> list[dict[str, Any]]:
        names = self._names()
        return [dict(zip(names, row, strict=True)) for row in super().fetchall()]

    def _names(self) -> list[str]:
        return [column.name for column in self.description or ()]


def connection_kwargs(settings: dict[str, Any]) -> dict[str, Any]:
    """Return the psycopg2.connect arguments every service connection uses."""
    timeout = settings["DB_STATEMENT_TIMEOUT_MS"]
    return {
        "dsn": settings["DATABASE_URL"],
        "connect_timeout": settings["DB_CONNECT_TIMEOUT"],
        "connection_factory": partial(ServiceConnection, statement_timeout_ms=timeout),
        "application_name": "config-service",
        "cursor_factory": ServiceCursor,
        "keepalives": 1,
        "keepalives_idle": 30,
    }


def direct_url(settings: dict[str, Any]) -> str:
    """Return the URL that reaches PostgreSQL itself (LISTEN, migrations), not a pooler."""
    return settings["DATABASE_LISTEN_URL"] or settings["DATABASE_URL"]


def _is_stale(conn: Any) -> bool:
    """Tell whether an idle connection was closed by the server (readable while idle)."""
    if conn.closed:
        return True
    readable, _, _ = select.select([conn.fileno()], [], [], 0)
    return bool(readable)


class ConnectionPool(ThreadedConnectionPool):
    """A ThreadedConnectionPool that keeps idle connections, waits for a free one and
    never hands out a connection the server has closed.

    The parent closes every returned connection beyond `minconn` (so most requests
    would reconnect) and raises at once when exhausted; it also connects while
    holding its lock, so one slow connect would stall every thread.
    """

    def __init__(self, minconn: int, maxconn: int, timeout: float, **kwargs: Any):
        self._slots = threading.BoundedSemaphore(maxconn)
        self._timeout = timeout
        self.in_use = 0
        self.waiting = 0  # threads waiting for a free slot (read by app/metrics.py)
        self.pid = os.getpid()  # the process that made it (a forked child makes its own)
        super().__init__(minconn, maxconn, **kwargs)

    def _new_connection(self) -> Any:
        conn = psycopg2.connect(*self._args, **self._kwargs)
        conn.autocommit = True  # reads are one round trip; writes use transaction()
        return conn

    def _connect(self, key: Any = None) -> Any:
        """Open an idle connection (the parent calls this for `minconn`)."""
        conn = self._new_connection()
        self._pool.append(conn)
        return conn

    def getconn(self, key: Any = None) -> Any:
        """Borrow a live connection, waiting up to the pool timeout for a free slot."""
        if not self._slots.acquire(blocking=False) and not self._wait_for_slot():
            raise PoolTimeout(f"no database connection free after {self._timeout} s")
        try:
            conn = self._take_idle()
            conn = conn if conn is not None else self._new_connection()
        except BaseException:
            self._slots.release()
            raise
        with self._lock:
            self.in_use += 1
        return conn

    def _wait_for_slot(self) -> bool:
        """Wait up to the pool timeout for a free slot, counted in `waiting` meanwhile."""
        with self._lock:
            self.waiting += 1
        try:
            return self._slots.acquire(timeout=self._timeout)
        finally:
            with self._lock:
                self.waiting -= 1

    def _take_idle(self) -> Any:
        while True:
            with self._lock:
                conn = self._pool.pop() if self._pool else None
            if conn is None or not _is_stale(conn):
                return conn
            conn.close()

    def putconn(self, conn: Any = None, key: Any = None, close: bool = False) -> None:
        """Return a connection; keep it idle only if it is healthy and outside a transaction."""
        try:
            if not close and not conn.closed and conn.info.transaction_status != _IDLE:
                try:
                    conn.rollback()
                except psycopg2.Error:
                    close = True
            with self._lock:
                self.in_use -= 1
                if close or conn.closed or self.closed:
                    conn.close()
                else:
                    self._pool.append(conn)
        finally:
            self._slots.release()


def get_pool(app: Flask | None = None) -> ConnectionPool:
    """Return this process's pool (app/worker.py makes it on first use, after the fork)."""
    return (app or current_app).extensions["worker"].pool


def get_conn() -> Any:
    """Return the request's connection, borrowing it from the pool on first use."""
    if "db_conn" not in g:
        g.db_conn = get_pool().getconn()
    return g.db_conn


@contextmanager
def transaction() -> Iterator[Any]:
    """Run the block in one transaction on the request's connection: commit or roll back."""
    conn = get_conn()
    conn.autocommit = False
    try:
        yield conn
        conn.commit()
    except BaseException:
        if not conn.closed:
            conn.rollback()
        raise
    finally:
        if not conn.closed:
            conn.autocommit = True


def release_conn() -> None:
    """Give the request's connection back now (before a long wait); get_conn borrows anew."""
    _return_conn(None)


def _return_conn(exc: BaseException | None) -> None:
    conn = g.pop("db_conn", None)
    if conn is not None:
        # psycopg2 marks a connection whose server went away as closed; putconn
        # discards it and rolls back anything a failed request left open.
        get_pool().putconn(conn)


def init_app(app: Flask) -> None:
    """Return the request's connection at teardown (per request, not per app context)."""
    app.teardown_request(_return_conn)
