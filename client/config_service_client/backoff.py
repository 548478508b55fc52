"""Jittered exponential back-off that honours Retry-After."""

from __future__ import annotations

import random

BASE = 0.5  # seconds before the first retry (half to all of it)
CAP = 30.0  # the longest back-off step
MOST_RETRY_AFTER = 300.0  # a misconfigured Retry-After must not stall a watcher for hours


class Backoff:
    """Delays for consecutive failures: 0.25-0.5 s, 0.5-1 s, ... up to 15-30 s."""

    def __init__(self, base: float = BASE, cap: float = CAP):
        self.base, self.cap = base, cap
        self.failures = 0

    def delay(self, retry_after: float | None = None) -> float:
        """Return how long to wait before the next try, and count this failure."""
        step = min(self.cap, self.base * 2**self.failures)
        self.failures += 1
        # "equal jitter": never less than half a step, so many clients spread out
        # without any of them retrying at once
        delay = step / 2 + random.uniform(0, step / 2)
        if retry_after is not None:
            asked = min(max(retry_after, 0.0), MOST_RETRY_AFTER)
            delay = max(delay, asked + random.uniform(0, min(1.0, asked / 10)))
        return delay

    def reset(self) -> None:
        """Forget the failures after a success."""
        self.failures = 0


def human_age(seconds: float) -> str:
    """Return an age like `42 s`, `5 min`, `3 h 2 min` or `2 d 3 h`."""
    seconds = max(0, int(seconds))
    if seconds < 120:
        return f"{seconds} s"
    minutes, hours, days = seconds // 60, seconds // 3600, seconds // 86400
    if hours < 2:
        return f"{minutes} min"
    if days < 2:
        return f"{hours} h {minutes % 60} min"
    return f"{days} d {hours % 24} h"
