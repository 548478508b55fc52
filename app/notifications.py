"""One LISTEN connection per worker process: it keeps the read cache current and wakes
requests waiting on a configuration."""

from __future__ import annotations

import os
import select
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from typing import Any

import psycopg2
from flask import Flask, current_app

from app.cache import NAMES, TOKENS, ReadCache

# Channels, sent by the triggers of migrations 0002 and 0005 in the writing transaction.
CHANNEL = "configuration_changed"  # payload: "<id> <version>" (version 0: deleted)
APPLICATION_RENAMED = "application_changed"  # an application's name changed or it went
TOKEN_CHANGED = "token_changed"  # a token's role, secret or revocation changed
TABLE_TRUNCATED = "cache_reset"  # a TRUNCATE: anything may be gone
CHANNELS = (CHANNEL, APPLICATION_RENAMED, TOKEN_CHANGED, TABLE_TRUNCATED)
LISTEN = "; ".join(f"LISTEN {channel}" for channel in CHANNELS)
RECONNECT_DELAY_MAX = 5.0


class ChangeListener:
    """Keeps a LISTEN connection open (reconnecting by itself) and sets waiters' events."""

    def __init__(self, connect_kwargs: dict[str, Any], logger: Any, cache: ReadCache):
        self._connect_kwargs = connect_kwargs
        self.cache = cache
        self._logger = logger
        self._waiters: dict[str, set[threading.Event]] = {}
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._interrupt, self._interrupter = socket.socketpair()  # ends select() at stop()
        self.connected = threading.Event()
        self.pid = os.getpid()
        self._thread = threading.Thread(target=self._run, name="change-listener", daemon=True)
        self._thread.start()

    @contextmanager
    def subscribe(self, configuration_id: str) -> Iterator[threading.Event]:
        """Yield an event set whenever the configuration changes, until the block ends."""
        event = threading.Event()
        with self._lock:
            self._waiters.setdefault(configuration_id, set()).add(event)
        if self.stopping:  # shutting down (checked after joining, so no stop() is missed)
            event.set()
        try:
            yield event
        finally:
            with self._lock:
                waiters = self._waiters.get(configuration_id, set())
                waiters.discard(event)
                if not waiters:
                    self._waiters.pop(configuration_id, None)

    @property
    def waiting(self) -> int:
        """Return how many requests are waiting for a change."""
        with self._lock:
            return sum(len(events) for events in self._waiters.values())

    @property
    def stopping(self) -> bool:
        """Tell whether the listener is shutting down (waits should end now)."""
        return self._stopping.is_set()

    def stop(self, timeout: float = 2) -> None:
        """Stop listening and wake every waiter, so long polls end now (at shutdown)."""
        self._stopping.set()
        with suppress(OSError):  # stopped before: the thread has closed its end
            self._interrupter.send(b"x")
        self._wake(None)
        self._thread.join(timeout=timeout)

    def _wake(self, configuration_id: str | None) -> None:
        with self._lock:
            if configuration_id is None:  # after a reconnect: anything may have changed
                events = [e for waiters in self._waiters.values() for e in waiters]
            else:
                events = list(self._waiters.get(configuration_id, ()))
        for event in events:
            event.set()

    def _run(self) -> None:
        delay = 0.1
        while not self._stopping.is_set():
            try:
                self._listen()
                delay = 0.1
            except psycopg2.Error as exc:
                self._logger.warning("change listener lost its connection: %s", type(exc).__name__)
            self._stopping.wait(delay)
            delay = min(delay * 2, RECONNECT_DELAY_MAX)
        self._interrupt.close()
        self._interrupter.close()

    def _listen(self) -> None:
        conn = psycopg2.connect(**self._connect_kwargs)
        try:
            conn.autocommit = True
            with conn.cursor() as cur:
                cur.execute(LISTEN)
            self.cache.clear()  # changes made while we were not listening were not heard
            self.connected.set()
            self._wake(None)
            while not self._stopping.is_set():
                readable, _, _ = select.select([conn, self._interrupt], [], [], 1.0)
                if conn in readable:
                    conn.poll()
                    for notify in conn.notifies:
                        self._changed(notify.channel, notify.payload)
                    conn.notifies.clear()
        finally:
            self.connected.clear()  # the cache goes unused until we listen again
            self.cache.clear()
            conn.close()

    def _changed(self, channel: str, payload: str) -> None:
        """Forget what the change made stale, then wake whoever waits on it."""
        if channel == CHANNEL:
            configuration_id = payload.split(" ", 1)[0]
            self.cache.forget(configuration_id)
            self._wake(configuration_id)
        elif channel == APPLICATION_RENAMED:
            self.cache.forget(NAMES)
        elif channel == TOKEN_CHANGED:
            self.cache.forget(TOKENS)
        else:
            self.cache.clear()
            self._wake(None)


_listener_lock = threading.Lock()


def get_listener(app: Flask | None = None) -> ChangeListener:
    """Return this process's listener, starting it on first use (after gunicorn forks)."""
    from app.db import connection_kwargs, direct_url

    app = app or current_app._get_current_object()  # type: ignore[attr-defined]
    listener = app.extensions.get("change_listener")
    if listener is None or listener.pid != os.getpid():
        with _listener_lock:
            listener = app.extensions.get("change_listener")
            if listener is None or listener.pid != os.getpid():
                kwargs = connection_kwargs(app.config)
                kwargs["dsn"] = direct_url(app.config)  # LISTEN needs a session: never PgBouncer
                kwargs.pop("cursor_factory")
                kwargs["application_name"] = "config-service-listener"
                # The cache trusts this connection: notice a silently dead one in ~11 s.
                kwargs.update(keepalives_idle=5, keepalives_interval=2, keepalives_count=3)
                cache = ReadCache(app.config["READ_CACHE_MB"] * 1024 * 1024)
                listener = ChangeListener(kwargs, app.logger, cache)
                app.extensions["change_listener"] = listener
    return listener


def end_waits(app: Flask) -> None:
    """Answer every long poll of this process now (on SIGTERM, ahead of the graceful timeout)."""
    listener = app.extensions.get("change_listener")
    if listener is not None and listener.pid == os.getpid():
        listener.stop(timeout=0)


def stop_listener(app: Flask) -> None:
    """Stop this process's listener, if it runs."""
    listener = app.extensions.pop("change_listener", None)
    if listener is not None and listener.pid == os.getpid():
        listener.stop()
