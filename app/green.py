"""Cooperative mode: gunicorn's gevent worker monkey-patches the standard library before it
loads the app, so threads, locks, events, select() and sockets become greenlet-aware by
themselves. What patching cannot reach is here: psycopg2 (a C library) must hand its waits
to gevent, and work that has to leave the event loop needs a real OS thread.
"""

from __future__ import annotations

import contextvars
import sys
import threading
import time
from collections.abc import Callable
from contextlib import suppress
from typing import Any, TypeVar

import psycopg2
import psycopg2.extensions as ext

T = TypeVar("T")
_CONNECTED = frozenset({ext.STATUS_READY, ext.STATUS_BEGIN, ext.STATUS_PREPARED})


def cooperative() -> bool:
    """Tell whether gevent has monkey-patched this process (gunicorn's gevent worker)."""
    monkey = sys.modules.get("gevent.monkey")
    return monkey is not None and bool(monkey.is_module_patched("socket"))


def make_psycopg2_cooperative() -> None:
    """In a patched process, make psycopg2 wait for PostgreSQL through gevent (idempotent)."""
    if cooperative() and ext.get_wait_callback() is not _wait:
        ext.set_wait_callback(_wait)


def _wait(conn: Any, timeout: float | None = None) -> None:
    """psycopg2's wait callback: poll the connection, yielding to other greenlets meanwhile.

    psycogreen's callback, plus the connect_timeout libpq ignores in this (asynchronous)
    mode: without it a connect to an unreachable server would wait for the kernel's TCP
    retries (minutes) instead of DB_CONNECT_TIMEOUT.
    """
    from gevent.socket import wait_read, wait_write

    deadline = _connect_deadline(conn)
    while True:
        state = conn.poll()
        if state == ext.POLL_OK:
            return
        left = None if deadline is None else deadline - time.monotonic()
        if left is not None and left <= 0:
            conn.close()
            raise psycopg2.OperationalError("timeout expired")
        try:
            if state == ext.POLL_READ:
                wait_read(conn.fileno(), timeout=left)
            elif state == ext.POLL_WRITE:
                wait_write(conn.fileno(), timeout=left)
            else:
                raise psycopg2.OperationalError(f"bad result from poll: {state!r}")
        except TimeoutError:  # gevent's wait_* raise socket.timeout, an alias of it
            continue  # the deadline check above closes and raises
        except BaseException:
            if conn.status in _CONNECTED:
                with suppress(psycopg2.Error):  # a greenlet killed mid-query: stop the query
                    conn.cancel()
            raise


def _connect_deadline(conn: Any) -> float | None:
    if conn.status in _CONNECTED:
        return None  # a query: the server's statement_timeout bounds it
    seconds = conn.info.dsn_parameters.get("connect_timeout")
    return time.monotonic() + int(seconds) if seconds and int(seconds) > 0 else None


def spawn(function: Callable[[], object]) -> None:
    """Run `function` in the background, safely from a signal handler: a greenlet under
    gevent (a patched Thread.start() would block in the event loop), else a daemon thread."""
    if cooperative():
        import gevent

        gevent.spawn(function)
    else:
        threading.Thread(target=function, daemon=True).start()


def off_the_loop(function: Callable[..., T], *args: Any) -> T:
    """Return `function(*args)`; under gevent run it on a native thread of gevent's pool.

    For CPU-bound calls (JSON Schema checks): in a greenlet one would hold every other
    request of the worker until it ended; on a thread, the GIL's switch interval shares the
    CPU as under gthread. The caller's context variables go along; its exceptions come back.
    """
    if not cooperative():
        return function(*args)
    import gevent

    context = contextvars.copy_context()
    done, value = gevent.get_hub().threadpool.apply(context.run, (_outcome, function, *args))
    if not done:
        raise value
    return value


def _outcome(function: Callable[..., Any], *args: Any) -> tuple[bool, Any]:
    # A BaseException (OverBudget) raised in the pool would also be printed by gevent.
    try:
        return True, function(*args)
    except BaseException as exc:
        return False, exc


def let_others_run() -> None:
    """Under gevent, step aside until the event loop has polled for I/O once (a timer: a
    zero sleep would run before it); OS threads are preempted anyway, so elsewhere: nothing."""
    if cooperative():
        import gevent

        gevent.sleep(0.001)


def os_thread_id() -> int:
    """Return the OS thread's id: under gevent, threading.get_ident() names the greenlet."""
    return threading.get_native_id()
