"""Rounds of polling: back-off, pacing, delivery in order, and a stop that interrupts."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from config_service_client.backoff import Backoff
from config_service_client.errors import ConfigServiceError
from config_service_client.result import Result
from config_service_client.target import Target
from config_service_client.transport import Connection, Endpoint

log = logging.getLogger("config_service_client")
MIN_CYCLE = 1.0  # seconds: a round that brings nothing new never repeats faster than this
Poll = Callable[[Connection], "list[tuple[int, Result]]"]


@dataclass(frozen=True)
class Change:
    """A target's new value (the first one of each target is its value at start)."""

    target: Target
    result: Result


class Rounds:
    """The machinery under a Watcher: its connections, the ETags it delivered, its stop."""

    def __init__(self, endpoint: Endpoint, targets: list[Target],
                 on_change: Callable[[Change], None] | None):  # fmt: skip
        self.endpoint, self.targets, self.on_change = endpoint, targets, on_change
        self.held: list[str | None] = [None] * len(targets)  # the ETag last delivered
        self._stop = threading.Event()
        # re-entrant: a signal handler may call stop() while its thread holds one
        self._lock = threading.RLock()  # the connections and the failure
        self._delivering = threading.RLock()  # one callback at a time
        self._connections: set[Connection] = set()
        self._failure: BaseException | None = None

    def stop(self) -> None:
        """End the watch from any thread (or a signal handler); a blocked poll ends at once."""
        self._stop.set()
        with self._lock:
            connections = list(self._connections)
        for conn in connections:
            conn.close()

    def _loop(self, poll: Poll, conn: Connection | None = None) -> None:
        """Poll until stopped: back off on errors, and pace rounds that bring nothing new."""
        conn, backoff = conn or self._open(), Backoff()
        while not self._stop.is_set():
            started = time.monotonic()
            try:
                found = poll(conn)
            except ConfigServiceError as exc:
                self._pause(backoff, exc)
                continue
            backoff.reset()
            if not self._deliver(found) and not self._stop.is_set():
                self._stop.wait(max(0.0, MIN_CYCLE - (time.monotonic() - started)))

    def _deliver(self, found: list[tuple[int, Result]]) -> int:
        delivered = 0
        for position, result in found:
            with self._delivering:  # whatever thread found the change
                if self._stop.is_set() or result.etag == self.held[position]:
                    continue
                if self.on_change is not None:
                    self.on_change(Change(self.targets[position], result))
                self.held[position] = result.etag
                delivered += 1
        return delivered

    def _pause(self, backoff: Backoff, exc: ConfigServiceError) -> None:
        if self._stop.is_set():
            return  # stop() closed the connection under a poll: not a failure
        if not exc.retryable:
            raise exc
        delay = backoff.delay(exc.retry_after)
        log.warning("%s; retrying in %.1f s", exc, delay)
        self._stop.wait(delay)

    def _open(self) -> Connection:
        conn = self.endpoint.open()
        with self._lock:
            self._connections.add(conn)
        if self._stop.is_set():
            conn.close()
        return conn

    def _fail(self, exc: BaseException) -> None:
        with self._lock:
            if self._failure is None:
                self._failure = exc
