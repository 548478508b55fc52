"""A CPU budget on one call, enforced from inside the calling thread.

A profile hook runs on every function call and return of the guarded call (jsonschema's
work is all calls: keywords, descents, generators resuming) and every `EVERY` events reads
the thread's CPU clock. Past the budget it raises, and the exception unwinds the check
where it stands. Nothing runs in another thread, so nothing races the end of the call;
code in C (RE2, big-integer arithmetic) is bounded by its callers and counted when it
returns.

One case needs care: when the raise lands in code Python runs on its own to finalize an
object (a weakref callback, a generator closed as it is freed, `__del__`), Python drops
the exception, reports it as "unraisable" and turns the hook off. The unraisable hook
below takes that report for an OverBudget of a guarded thread: it sets a hook that raises
at the very next call or return (the budget is spent), again until one unwinds the
check, and prints nothing.
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")
EVERY = 200  # profile events between two reads of the clock (one read costs ~0.3 µs)
_guarded = threading.local()  # .active: this thread runs a guarded call
_next_unraisablehook = sys.unraisablehook  # where reports that are not ours go


class OverBudget(BaseException):  # noqa: N818 - not an Exception: no `except Exception` may eat it
    """The guarded call used up its CPU budget."""


def within(budget_ms: int, call: Callable[..., T], *args: Any) -> T:
    """Return `call(*args)`, or raise OverBudget once it has used `budget_ms` of CPU."""
    deadline = time.thread_time() + budget_ms / 1000
    countdown = EVERY

    def hook(frame: Any, event: str, arg: Any) -> None:
        nonlocal countdown
        countdown -= 1
        if countdown <= 0:
            countdown = EVERY
            if time.thread_time() > deadline:
                raise OverBudget

    global _next_unraisablehook
    if sys.unraisablehook is not _rearm:  # test runners swap their own in and out
        _next_unraisablehook, sys.unraisablehook = sys.unraisablehook, _rearm
    previous = sys.getprofile()
    _guarded.active = True
    sys.setprofile(hook)
    try:
        return call(*args)
    finally:
        sys.setprofile(previous)
        _guarded.active = False


def _rearm(unraisable: Any) -> None:
    """Raise again in this thread's guarded call after Python dropped its OverBudget."""
    if getattr(_guarded, "active", False) and unraisable.exc_type is OverBudget:
        sys.setprofile(_raise_again)
    else:
        _next_unraisablehook(unraisable)


def _raise_again(frame: Any, event: str, arg: Any) -> None:
    if frame.f_code is not _rearm.__code__:  # its own return comes first: not a place to raise
        raise OverBudget
