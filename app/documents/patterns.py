"""`pattern` and `patternProperties` through RE2, whose matching time is linear in the text.

Python's `re` backtracks (`^(a|a)+$` doubles its time per character) and holds the GIL while
it does, freezing every thread of the worker; RE2 never backtracks and releases the GIL.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from functools import lru_cache
from types import SimpleNamespace

import jsonschema._utils
import re2

MAX_REPEAT = 1000  # RE2's own limit on a counted repetition, said in our words
MAX_PROGRAM = 10_000  # compiled instructions: `[a-z]{1000}` takes about 1,000
# RE2 matches in time proportional to text length × program size: its DFA is fast, but a
# pattern that defeats the DFA falls back to a simulation measured at up to ~10 ns per unit.
# A check bounded at `budget_ms` may match at most this many units per millisecond.
UNITS_PER_MS = 50_000

_OPTIONS = re2.Options()
_OPTIONS.log_errors = False  # a refused pattern is answered as a 422, not logged by RE2
_OPTIONS.never_capture = True  # we only ask whether it matches
_ESCAPED_U = re.compile(r"(?<!\\)((?:\\\\)*)\\u([0-9A-Fa-f]{4})")
_BUDGET_MS: ContextVar[int | None] = ContextVar("pattern_budget_ms", default=None)
_COUNT = re.compile(r"(?<!\\)\{\s*(\d+)\s*(?:,\s*(\d*)\s*)?\}")


class PatternError(ValueError):
    """A pattern the service does not accept."""


class TextTooLong(ValueError):
    """Matching this text against this pattern could cost more than the budget."""


def _translated(pattern: str) -> str:
    r"""Spell ECMA-262's `\uXXXX` as RE2's `\x{XXXX}`; everything else is RE2 syntax."""
    return _ESCAPED_U.sub(r"\1\\x{\2}", pattern)


def check(pattern: str) -> None:
    """Raise PatternError unless the service can match `pattern` in bounded time and memory."""
    for match in _COUNT.finditer(pattern):
        # RE2 refuses counts from 1001 up, but reads one past 2**31 as literal text.
        if any(n and (len(n) > 4 or int(n) > MAX_REPEAT) for n in match.groups()):
            raise PatternError(f"a repetition count above {MAX_REPEAT} is not supported")
    if compiled(pattern).programsize > MAX_PROGRAM:
        raise PatternError(f"it compiles to more than {MAX_PROGRAM} instructions")


@lru_cache(maxsize=512)
def compiled(pattern: str) -> re2._Regexp:
    """Return the RE2 program of `pattern`, or raise PatternError saying why there is none."""
    try:
        return re2.compile(_translated(pattern), _OPTIONS)
    except re2.error as exc:
        reason = exc.args[0].decode() if exc.args and isinstance(exc.args[0], bytes) else exc
        raise PatternError(f"RE2 cannot compile it: {reason}") from None
    except UnicodeEncodeError:
        raise PatternError("it is not valid Unicode") from None


@contextmanager
def budgeted(budget_ms: int) -> Iterator[None]:
    """Within the block, match with RE2 only, and refuse a match that could outrun `budget_ms`."""
    token = _BUDGET_MS.set(budget_ms)
    try:
        yield
    finally:
        _BUDGET_MS.reset(token)


def search(pattern: str, text: str) -> bool:
    """Return whether `pattern` matches anywhere in `text` (unanchored, as JSON Schema says)."""
    program = compiled(pattern)
    budget_ms = _BUDGET_MS.get() or 0
    if len(text) * program.programsize > budget_ms * UNITS_PER_MS:
        raise TextTooLong(
            f"a string of {len(text)} characters is too long to match against {pattern[:80]!r}"
            f" within the {budget_ms} ms budget"
        )
    try:
        return program.search(text) is not None
    except UnicodeEncodeError:  # a lone surrogate, which a stored document cannot hold
        raise TextTooLong("a string that is not valid Unicode cannot be matched") from None


def _jsonschema_search(pattern: str, text: str) -> bool:
    """`re.search` for jsonschema's helpers: RE2 in our checks, Python's `re` elsewhere."""
    if _BUDGET_MS.get() is None:
        return re.search(pattern, text) is not None
    return search(pattern, text)


# additionalProperties and unevaluatedProperties match patternProperties through
# jsonschema._utils, which calls its module's `re.search` (jsonschema 4.26): route it here.
jsonschema._utils.re = SimpleNamespace(search=_jsonschema_search)
