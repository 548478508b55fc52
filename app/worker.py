"""One object owns what a worker process runs: its pool, change listener, read cache and
metrics sampler. Each is started on first use, after gunicorn forks; a forked child drops
what it inherited (never closing it: the sockets are its parent's) and starts its own.
gunicorn's hooks and the tests end it all with one call to `shutdown`.
"""

from __future__ import annotations

import os
import threading
import weakref
from collections.abc import Callable, Hashable, Iterable
from typing import Any

from flask import Flask, current_app

from app.db import ConnectionPool, connection_kwargs, direct_url
from app.green import make_psycopg2_cooperative
from app.live.cache import ReadCache
from app.live.listener import ChangeListener

Load = Callable[[], Any]
_workers: weakref.WeakSet[Worker] = weakref.WeakSet()


class Worker:
    """The process's long-lived resources, made lazily and ended together."""

    def __init__(self, app: Flask):
        self.settings = app.config
        self.logger = app.logger
        self.metrics = app.extensions["metrics"]
        self._forked()
        _workers.add(self)

    def _forked(self) -> None:
        """Start from nothing (at creation, and in a forked child: abandon, never close).

        Locks are made anew too: another thread of the parent may have held one at the fork.
        """
        self.pid = os.getpid()
        self._lock = threading.Lock()
        self.cache = ReadCache(self.settings["READ_CACHE_MB"] * 1024 * 1024)
        self._pool: ConnectionPool | None = None
        self._listener: ChangeListener | None = None
        self._sampler: threading.Thread | None = None

    @property
    def pool(self) -> ConnectionPool:
        """Return the process's connection pool, made on first use."""
        if self._pool is None:
            with self._lock:
                if self._pool is None:
                    s = self.settings
                    self._pool = ConnectionPool(
                        s["DB_POOL_MIN"], s["DB_POOL_MAX"], s["DB_POOL_TIMEOUT"],
                        **connection_kwargs(s),
                    )  # fmt: skip
        return self._pool

    @property
    def listener(self) -> ChangeListener:
        """Return the process's change listener, started on first use."""
        if self._listener is None:
            with self._lock:
                if self._listener is None:
                    cache = self.cache
                    self._listener = ChangeListener(
                        listen_kwargs(self.settings), self.logger, cache.forget, cache.clear
                    )
        return self._listener

    def running(self) -> tuple[ConnectionPool | None, ChangeListener | None]:
        """Return the pool and listener if they were started (for gauges), without starting."""
        return self._pool, self._listener

    def start_sampler(self) -> None:
        """Copy this worker's gauges into the metrics every second (multi-process metrics)."""
        if self._sampler is not None:
            return
        with self._lock:
            if self._sampler is None:
                self._sampler = self.metrics.start_sampler(self)

    def cached(self, key: Hashable, load: Load, owners: Callable[[Any], Iterable[str]],
               size: Callable[[Any], int], no_cache: bool = False) -> Any:  # fmt: skip
        """Return the value for key from the read cache, else from `load` (None: not stored).

        The cache is used only while the listener is connected: otherwise a change could
        go unheard. `no_cache` skips the cached copy (and refreshes it).
        """
        if not self._cache_usable():
            self.metrics.count_cache_lookup("bypass")
            return load()
        if no_cache:
            self.metrics.count_cache_lookup("bypass")
            return self.cache.load(key, load, owners, size)
        value = self.cache.get(key)
        if value is not None:
            self.metrics.count_cache_lookup("hit")
            return value
        self.metrics.count_cache_lookup("miss")
        return self.cache.fill(key, load, owners, size)

    def cached_value(self, key: Hashable) -> Any:
        """Return the value the read cache holds for key, or None (off, or not held); the
        caller counts the hit if it uses it (`metrics.count_cache_lookup("hit")`)."""
        return self.cache.get(key) if self._cache_usable() else None

    def _cache_usable(self) -> bool:
        return self.settings["READ_CACHE"] and self.listener.connected.is_set()

    def forget(self, *owners: str) -> None:
        """Forget here, at once, what a write committed here changed, so this worker's next
        read cannot be older than the write (other workers forget when its NOTIFY arrives)."""
        for owner in owners:
            self.cache.forget(owner)

    def end_waits(self) -> None:
        """Answer every long poll of this process now (on SIGTERM, ahead of the graceful
        timeout): the listener stops, which wakes every waiter."""
        if self._listener is not None:
            self._listener.stop(timeout=0)

    def shutdown(self) -> None:
        """Stop the listener and sampler, close the pool, hand over the last metrics."""
        listener, pool = self._listener, self._pool
        self._listener = self._pool = None
        if listener is not None:
            listener.stop()
        if pool is not None and not pool.closed:
            pool.closeall()
        self.metrics.stop_sampler(self._sampler)
        self._sampler = None


def listen_kwargs(settings: Any) -> dict[str, Any]:
    """Return the listener's connection arguments: direct to PostgreSQL, never PgBouncer."""
    kwargs = connection_kwargs(settings)
    kwargs["dsn"] = direct_url(settings)  # LISTEN needs a session of its own
    kwargs.pop("cursor_factory")
    kwargs["application_name"] = "config-service-listener"
    # The cache trusts this connection: notice a silently dead one in ~11 s.
    kwargs.update(keepalives_idle=5, keepalives_interval=2, keepalives_count=3)
    return kwargs


def current_worker(app: Flask | None = None) -> Worker:
    """Return the worker of this process (the app's, made by init_app)."""
    return (app or current_app).extensions["worker"]


def _after_fork_in_child() -> None:
    for worker in list(_workers):
        worker._forked()


os.register_at_fork(after_in_child=_after_fork_in_child)


def init_app(app: Flask) -> None:
    """Give the app its worker (nothing starts until first use)."""
    make_psycopg2_cooperative()  # under gevent only: before any connection is made
    app.extensions["worker"] = Worker(app)
