"""A CPU budget on one call, enforced from inside the calling thread.

A profile hook runs on every function call and return of the guarded call (jsonschema's
work is all calls: keywords, descents, generators resuming) and every `EVERY` events reads
the thread's CPU clock. Past the budget it raises, and the exception unwinds the check
where it stands. Nothing runs in another thread, so nothing races the end of the call;
code in C (RE2, big-integer arithmetic) is bounded by its callers and counted when it
returns.
"""

from __future__ import annotations

import gc
import sys
import time
from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")
EVERY = 200  # profile events between two reads of the clock (one read costs ~0.3 µs)


class OverBudget(BaseException):  # noqa: N818 - not an Exception: no `except Exception` may eat it
    """The guarded call used up its CPU budget."""


def within(budget_ms: int, call: Callable[..., T], *args: Any) -> T:
    """Return `call(*args)`, or raise OverBudget once it has used `budget_ms` of CPU."""
    deadline = time.thread_time() + budget_ms / 1000
    countdown, spent = EVERY, False

    def hook(frame: Any, event: str, arg: Any) -> None:
        nonlocal countdown, spent
        countdown -= 1
        if countdown <= 0:
            countdown = EVERY
            if time.thread_time() > deadline:
                spent = True
                raise OverBudget

    # Python drops an exception raised in a finalizer ("Exception ignored in ..."): no
    # cyclic collection runs finalizers inside the call, and a raise that a finalizer
    # dropped anyway is raised again once the call returns.
    previous, collecting = sys.getprofile(), gc.isenabled()
    gc.disable()
    sys.setprofile(hook)
    try:
        result = call(*args)
    finally:
        sys.setprofile(previous)
        if collecting:
            gc.enable()
    if spent:
        raise OverBudget
    return result
