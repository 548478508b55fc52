"""Watch many configurations: POST /watch on one connection, else one long poll per target."""

from __future__ import annotations

import logging
import queue
import signal
import threading
from collections.abc import Callable, Iterable, Iterator
from functools import partial

from config_service_client.backoff import Backoff
from config_service_client.client import Client
from config_service_client.errors import ConfigServiceError
from config_service_client.polling import MOST_ENTRIES, WatchUnsupported, poll_one, post_watch
from config_service_client.result import Result
from config_service_client.rounds import MIN_CYCLE, Change, Poll, Rounds
from config_service_client.target import Target
from config_service_client.transport import Connection

__all__ = ["MIN_CYCLE", "Change", "Watcher"]

log = logging.getLogger("config_service_client")


class Watcher(Rounds):
    """Deliver every change of some targets to `on_change`, or iterate over them."""

    def __init__(self, client: Client, targets: Iterable[Target],
                 on_change: Callable[[Change], None] | None = None, wait: int = 55):  # fmt: skip
        targets = list(dict.fromkeys(targets))
        if not 1 <= len(targets) <= MOST_ENTRIES:
            raise ValueError(f"watch 1 to {MOST_ENTRIES} configurations per Watcher")
        super().__init__(client.endpoint, targets, on_change)
        self.client, self.wait = client, wait
        self.mode = "watch"  # "long-poll" once the server turns POST /watch down

    def run(self) -> None:
        """Deliver each target's current value, then its changes, until stop() or an error."""
        try:
            self._watch_or_poll(self._start())
        except BaseException as exc:
            self._fail(exc)
        finally:
            self.stop()
        if self._failure is not None:
            raise self._failure

    def stop_on_signals(self, *signals: int) -> None:
        """Make SIGINT and SIGTERM (or the given signals) stop this watcher; main thread only."""
        for number in signals or (signal.SIGINT, signal.SIGTERM):
            signal.signal(number, lambda *_: self.stop())

    def __iter__(self) -> Iterator[Change]:
        """Run in a background thread and yield its changes; leaving the loop stops it."""
        changes: queue.Queue[object] = queue.Queue()
        self.on_change = changes.put
        runner = threading.Thread(target=self._run_into, args=(changes,), daemon=True)
        runner.start()
        try:
            while (item := changes.get()) is not self:
                if isinstance(item, BaseException):
                    raise item
                yield item  # type: ignore[misc]
        finally:
            self.stop()

    def _run_into(self, changes: queue.Queue[object]) -> None:
        try:
            self.run()
        except BaseException as exc:
            changes.put(exc)
        changes.put(self)  # the end

    def _start(self) -> Connection:
        """Deliver each target's value at start; return the connection, to watch on."""
        conn = self._open()  # the watcher's own, so that stop() interrupts these reads too
        for index, target in enumerate(self.targets):
            backoff = Backoff()
            while not self._stop.is_set():
                try:
                    result = self.client.read(target, conn)  # a kept copy if the server fails
                except ConfigServiceError as exc:
                    self._pause(backoff, exc)
                    continue
                self._deliver([(index, result)])
                break
        return conn

    def _watch_or_poll(self, conn: Connection) -> None:
        try:
            self._loop(partial(post_watch, self.client, self.targets, self.held, self.wait), conn)
        except WatchUnsupported:
            log.info("POST /watch is not available: watching with one long poll per target")
            self.mode = "long-poll"
            self._long_polls(conn)

    def _long_polls(self, conn: Connection) -> None:
        polls = [partial(self._poll_one, index) for index in range(len(self.targets))]
        if len(polls) == 1:
            return self._loop(polls[0], conn)
        threads = [threading.Thread(target=self._guarded, args=(p,), daemon=True) for p in polls]
        for thread in threads:
            thread.start()
        self._stop.wait()
        for thread in threads:
            thread.join(timeout=1.0)  # each one ends when its connection is closed

    def _poll_one(self, index: int, conn: Connection) -> list[tuple[int, Result]]:
        changes = poll_one(self.client, self.targets[index], self.held[index], self.wait, conn)
        return [(index, result) for _, result in changes]

    def _guarded(self, poll: Poll) -> None:
        try:
            self._loop(poll)
        except BaseException as exc:
            self._fail(exc)
            self.stop()
