"""One LISTEN connection per worker process: it keeps the read cache current and wakes
requests waiting on a configuration."""

from __future__ import annotations

import select
import socket
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from typing import Any

import psycopg2

from app.green import let_others_run

# Channels, sent by the triggers of migrations 0002, 0005 and 0008 in the writing transaction.
CHANNEL = "configuration_changed"  # payload: "<id> <version>" (version 0: deleted)
OVERLAY_CHANGED = "overlay_changed"  # payload: "<configuration id> <environment>"
APPLICATION_RENAMED = "application_changed"  # an application's name changed or it went
ENVIRONMENT_CHANGED = "environment_changed"  # an environment was created or went
TOKEN_CHANGED = "token_changed"  # a token's role, secret or revocation changed
TABLE_TRUNCATED = "cache_reset"  # a TRUNCATE: anything may be gone
RECONNECT_DELAY_MIN = 0.1
RECONNECT_DELAY_MAX = 5.0
# Under gevent the woken requests of a worker run back to back: wake them this many at a
# time (~0.5 ms of CPU each to answer), so that other requests wait one batch, not them all
# (one worker, 2,000 watchers woken: GET max 45-55 ms with 8, 0.3-0.5 s with 32, 2.7-2.9 s
# with no batches, delivery p99 alike).
WAKE_BATCH = 8
# What a change makes stale besides a configuration id: every by-name answer (an
# application rename or delete moves names), and every token (a revocation or role change).
NAMES = "names"
TOKENS = "tokens"
ENVIRONMENTS = "environments"  # every resolved answer: its environment may have gone
# A waiter's key woken by every configuration change: a name watched before it exists
# (a creation's NOTIFY carries only the new id).
EVERY_CONFIGURATION = "configurations"
OWNER_OF_CHANNEL = {
    APPLICATION_RENAMED: NAMES,
    ENVIRONMENT_CHANGED: ENVIRONMENTS,
    TOKEN_CHANGED: TOKENS,
}
CHANNELS = (CHANNEL, OVERLAY_CHANGED, *OWNER_OF_CHANNEL, TABLE_TRUNCATED)
LISTEN = "; ".join(f"LISTEN {channel}" for channel in CHANNELS)


def overlay_key(configuration_id: str, environment: str) -> str:
    """Return the key an overlay's change makes stale and wakes (the base's: the id alone)."""
    return f"{configuration_id}@{environment}"


class ChangeListener:
    """Keeps a LISTEN connection open (reconnecting by itself) and sets waiters' events.

    It is told what to call: `forget(owner)` before it wakes anyone for a change (a
    configuration id, NAMES or TOKENS), and `reset()` whenever anything may have changed
    unheard (on every connect and disconnect, and after a TRUNCATE).
    """

    def __init__(
        self,
        connect_kwargs: dict[str, Any],
        logger: Any,
        forget: Callable[[str], None],
        reset: Callable[[], None],
    ):
        self._connect_kwargs = connect_kwargs
        self._forget = forget
        self._reset = reset
        self._logger = logger
        self._waiters: dict[str, set[threading.Event]] = {}
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._interrupt, self._interrupter = socket.socketpair()  # ends select() at stop()
        self.connected = threading.Event()
        self.connects = 0  # successful LISTENs so far (the first, then reconnects)
        self._thread = threading.Thread(target=self._run, name="change-listener", daemon=True)
        self._thread.start()

    @contextmanager
    def subscribe(
        self, *keys: str, event: threading.Event | None = None
    ) -> Iterator[threading.Event]:
        """Yield an event set whenever one of these keys changes (a configuration id, NAMES,
        EVERY_CONFIGURATION), until the block ends; pass `event` to share one across blocks."""
        event = event or threading.Event()
        with self._lock:
            for key in keys:
                self._waiters.setdefault(key, set()).add(event)
        if self.stopping:  # shutting down (checked after joining, so no stop() is missed)
            event.set()
        try:
            yield event
        finally:
            with self._lock:
                for key in keys:
                    waiters = self._waiters.get(key, set())
                    waiters.discard(event)
                    if not waiters:
                        self._waiters.pop(key, None)

    @property
    def waiting(self) -> int:
        """Return how many requests are waiting for a change."""
        with self._lock:
            return len({event for events in self._waiters.values() for event in events})

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
        for woken, event in enumerate(events, 1):
            event.set()
            if woken % WAKE_BATCH == 0:
                let_others_run()  # under gevent: requests arriving meanwhile get a turn

    def _run(self) -> None:
        delay = RECONNECT_DELAY_MIN
        while not self._stopping.is_set():
            connects = self.connects
            try:
                self._listen()
            except psycopg2.Error as exc:
                self._logger.warning("change listener lost its connection: %s", type(exc).__name__)
            if self.connects != connects:  # it listened: a fresh loss, not a failing retry
                delay = RECONNECT_DELAY_MIN
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
            self._reset()  # changes made while we were not listening were not heard
            self.connects += 1
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
            self._reset()
            conn.close()

    def _changed(self, channel: str, payload: str) -> None:
        """Forget what the change made stale, then wake whoever waits on it."""
        if channel == CHANNEL:
            configuration_id = payload.split(" ", 1)[0]
            self._forget(configuration_id)
            self._wake(configuration_id)
            self._wake(EVERY_CONFIGURATION)
        elif channel == OVERLAY_CHANGED:
            key = overlay_key(*payload.split(" ", 1))
            self._forget(key)
            self._wake(key)
        elif channel in OWNER_OF_CHANNEL:
            self._forget(OWNER_OF_CHANNEL[channel])
            if channel == TOKEN_CHANGED:  # a waiter's token may be gone: it must check again
                self._wake(None)
            else:
                self._wake(OWNER_OF_CHANNEL[channel])  # by-name watchers: a name may have moved
        else:
            self._reset()
            self._wake(None)
