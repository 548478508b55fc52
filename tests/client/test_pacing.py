"""Back-off and pacing of the watch loop, whatever a server answers (no server needed)."""

from __future__ import annotations

import threading
import time

import pytest
from config_service_client import Client, Result, Target, TooManyRequests
from config_service_client.backoff import CAP, Backoff, human_age
from config_service_client.watch import MIN_CYCLE, Watcher

TARGET = Target(application="billing", name="database")


def test_backoff_grows_with_jitter_up_to_the_cap() -> None:
    backoff = Backoff()
    delays = [backoff.delay() for _ in range(12)]
    assert 0.25 <= delays[0] <= 0.5 and 0.5 <= delays[1] <= 1.0
    assert all(CAP / 2 <= d <= CAP for d in delays[8:])
    backoff.reset()
    assert backoff.delay() <= 0.5


def test_backoff_honours_retry_after_within_reason() -> None:
    assert 7 <= Backoff().delay(retry_after=7) <= 7.7
    assert Backoff().delay(retry_after=10**6) <= 301


@pytest.mark.parametrize(("seconds", "text"), [(5, "5 s"), (600, "10 min"), (7500, "2 h 5 min"),
                                                (200000, "2 d 7 h")])  # fmt: skip
def test_human_age(seconds: int, text: str) -> None:
    assert human_age(seconds) == text


def rounds(answer, seconds: float) -> list[float]:
    """Run a watch loop whose every poll gives `answer()` for a while; return when each ran."""
    watcher = Watcher(Client("http://127.0.0.1:9"), [TARGET])
    watcher.held[0] = '"1"'
    calls: list[float] = []

    def poll(conn: object) -> list[tuple[int, Result]]:
        calls.append(time.monotonic())
        return answer()

    threading.Timer(seconds, watcher.stop).start()
    watcher._loop(poll)  # it returns once stopped
    return calls


def same() -> list[tuple[int, Result]]:
    return [(0, Result(TARGET, {"config": {}, "version": 1}, '"1"'))]


@pytest.mark.parametrize("answer", [lambda: [], same], ids=["instant-304", "200-no-change"])
def test_answers_that_bring_nothing_repeat_at_most_once_a_second(answer) -> None:
    calls = rounds(answer, 2.5)
    assert 2 <= len(calls) <= 3
    assert all(b - a >= MIN_CYCLE * 0.95 for a, b in zip(calls, calls[1:], strict=False))


def test_errors_back_off_and_retry_after_is_honoured() -> None:
    def fail() -> list[tuple[int, Result]]:
        raise TooManyRequests("slow down", status=429, retry_after=1.0)

    calls = rounds(fail, 2.5)
    assert 2 <= len(calls) <= 3
    assert all(b - a >= 1.0 for a, b in zip(calls, calls[1:], strict=False))
