"""ETags, If-Match / If-None-Match, and long-poll watching with `Prefer: wait=N`."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from functools import lru_cache
from typing import Any

from flask import request
from werkzeug.datastructures import ETags
from werkzeug.http import parse_etags

from app.db import release_conn
from app.web.auth import check_again
from app.web.errors import PreconditionFailed, found
from app.worker import current_worker

WAIT_MIN, WAIT_MAX = 1, 60
DELETED = "The configuration was deleted."
_WAIT = re.compile(r"^\s*wait\s*=\s*\"?(\d+)\"?\s*$", re.IGNORECASE)
# If-Match per RFC 9110: `*`, or a comma-separated list of quoted entity tags.
_ENTITY_TAG = r'(?:W/)?"[\x21\x23-\x7e\x80-\xff]*"'
_IF_MATCH = re.compile(rf"\s*(?:\*|(?:{_ENTITY_TAG})?(?:\s*,(?:\s*{_ENTITY_TAG})?)*)\s*")
_ONE_TAG = re.compile(r'\s*"([1-9][0-9]{0,8})"\s*')  # one strong tag, within integer range

Lookup = Callable[[], Any]  # the newest state: anything with .id and .tag, or None


def etag_headers(version: int | str) -> dict[str, str]:
    """Return the validators every single-configuration (or overlay) answer carries."""
    return {"ETag": f'"{version}"', "Cache-Control": "no-cache"}


def client_is_current(version: int | str) -> bool:
    """Tell whether If-None-Match (weak comparison, `*` allowed) names this version."""
    return names_version(request.environ.get("HTTP_IF_NONE_MATCH"), version)


def names_version(if_none_match: str | None, version: int | str) -> bool:
    """Tell whether an If-None-Match field (weak comparison, `*` allowed) names this version."""
    return if_none_match is not None and _entity_tags(if_none_match).contains_weak(str(version))


@lru_cache(maxsize=256)
def _entity_tags(field: str) -> ETags:
    # Clients revalidate with a few distinct fields again and again: parse each once.
    return parse_etags(field)


def check_if_match(version: int, if_match: str | None = None) -> None:
    """Refuse with 412 unless If-Match (the request's, or `if_match` when given) is absent,
    `*`, or strongly names this version."""
    header = request.headers.get("If-Match") if if_match is None else if_match
    if header is None:
        return
    # Werkzeug reads an unquoted `3` as the tag "3"; a malformed field names no tag.
    if not _IF_MATCH.fullmatch(header):
        tag = header.strip() if header.strip().isdigit() else str(version)
        raise PreconditionFailed(
            f'If-Match must be `*` or quoted entity tags, e.g. If-Match: "{tag[:20]}";'
            " nothing was written."
        )
    if not parse_etags(header).contains(str(version)):
        raise PreconditionFailed(f"If-Match does not match the current version, {version}.")


def if_match_version() -> tuple[bool, int | None]:
    """Read If-Match for a write in one statement: (True, None) when any version will do
    (no If-Match, or `*`), (True, N) for exactly one strong tag "N"; (False, None) for
    anything else (lists, weak or odd tags), which check_if_match judges on the locked row."""
    header = request.headers.get("If-Match")
    if header is None or header.strip() == "*":
        return True, None
    match = _ONE_TAG.fullmatch(header)
    return (True, int(match.group(1))) if match else (False, None)


def prefer_wait() -> int | None:
    """Return the `Prefer: wait=N` seconds clamped to 1..60, or None if absent or unreadable."""
    if "HTTP_PREFER" not in request.environ:  # the usual read: skip the header parsing
        return None
    for header in request.headers.getlist("Prefer"):
        for preference in header.split(","):
            match = _WAIT.match(preference.split(";", 1)[0])
            if match:  # a huge number is still a long wait; int() refuses 4300+ digits
                digits = match.group(1).lstrip("0") or "0"
                seconds = int(digits) if len(digits) <= 9 else WAIT_MAX
                return min(max(seconds, WAIT_MIN), WAIT_MAX)
    return None


def watch(row: Any, lookup: Lookup, keys: tuple[str, ...]) -> tuple[Any, dict[str, str]]:
    """Hold the request while the client's ETag is current, up to the preferred wait,
    woken by a change to any of `keys` (see representation.wake_keys).

    Returns the newest row and extra headers.
    """
    wait = prefer_wait()
    conditional = "If-None-Match" in request.headers
    if wait is None or not conditional or not client_is_current(row.tag):
        return row, {}
    row = wait_for_change(row, lookup, keys, wait, client_is_current, check_again)
    return row, {"Preference-Applied": f"wait={wait}"}


def wait_for_change(
    row: Any,
    lookup: Lookup,
    keys: tuple[str, ...],
    wait: float,
    is_current: Callable[[str], bool],
    recheck: Callable[[], None],
) -> Any:
    """Return the newest row once its tag is no longer current, or when `wait` seconds end.

    No pool connection is held while waiting: the listener wakes us on a change to any of
    `keys` and each check borrows one briefly. `recheck` runs after every wake-up: it
    raises when the request's credentials no longer allow it.
    """
    deadline = time.monotonic() + wait
    release_conn()
    listener = current_worker().listener
    with listener.subscribe(*keys) as changed:
        row = found(lookup(), DELETED)  # a change made before we subscribed
        release_conn()
        while is_current(row.tag):
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not changed.wait(remaining) or listener.stopping:
                break  # at shutdown: answer now; the next poll (elsewhere) sees any change
            changed.clear()
            recheck()  # a token revoked or lowered while we waited gets nothing more
            row = found(lookup(), DELETED)
            release_conn()
    return row
