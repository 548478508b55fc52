"""One LISTEN connection per worker process that wakes requests waiting on a configuration."""

from __future__ import annotations

import os
import select
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import psycopg2
from flask import Flask, current_app

CHANNEL = "configuration_changed"
LISTEN = "LISTEN configuration_changed"
RECONNECT_DELAY_MAX = 5.0


class ChangeListener:
    """Keeps a LISTEN connection open (reconnecting by itself) and sets waiters' events."""

    def __init__(self, connect_kwargs: dict[str, Any], logger: Any):
        self._connect_kwargs = connect_kwargs
        self._logger = logger
        self._waiters: dict[str, set[threading.Event]] = {}
        self._lock = threading.Lock()
        self._stopping = threading.Event()
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
            self.connected.clear()
            self._stopping.wait(delay)
            delay = min(delay * 2, RECONNECT_DELAY_MAX)

    def _listen(self) -> None:
        conn = psycopg2.connect(**self._connect_kwargs)
        try:
            conn.autocommit = True
            with conn.cursor() as cur:
                cur.execute(LISTEN)
            self.connected.set()
            self._wake(None)  # changes made while we were not listening
            while not self._stopping.is_set():
                readable, _, _ = select.select([conn], [], [], 1.0)
                if readable:
                    conn.poll()
                    for notify in conn.notifies:
                        self._wake(notify.payload.split(" ", 1)[0])
                    conn.notifies.clear()
        finally:
            conn.close()


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
                listener = ChangeListener(kwargs, app.logger)
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
