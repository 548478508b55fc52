"""ETags, If-Match / If-None-Match, and long-poll watching with `Prefer: wait=N`."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from typing import Any

from flask import request

from app.db import release_conn
from app.errors import NotFound, PreconditionFailed
from app.notifications import get_listener

WAIT_MIN, WAIT_MAX = 1, 60
_WAIT = re.compile(r"^\s*wait\s*=\s*\"?(\d+)\"?\s*$", re.IGNORECASE)
# If-Match per RFC 9110: `*`, or a comma-separated list of quoted entity tags.
_ENTITY_TAG = r'(?:W/)?"[\x21\x23-\x7e\x80-\xff]*"'
_IF_MATCH = re.compile(rf"\s*(?:\*|(?:{_ENTITY_TAG})?(?:\s*,(?:\s*{_ENTITY_TAG})?)*)\s*")
_ONE_TAG = re.compile(r'\s*"([1-9][0-9]{0,8})"\s*')  # one strong tag, within integer range

Lookup = Callable[[], Any]  # the newest state: anything with .id and .version, or None


def etag_headers(version: int) -> dict[str, str]:
    """Return the validators every single-configuration answer carries."""
    return {"ETag": f'"{version}"', "Cache-Control": "no-cache"}


def client_is_current(version: int) -> bool:
    """Tell whether If-None-Match (weak comparison, `*` allowed) names this version."""
    return request.if_none_match.contains_weak(str(version))


def check_if_match(version: int) -> None:
    """Refuse with 412 unless If-Match is absent, `*`, or strongly names this version."""
    header = request.headers.get("If-Match")
    if header is None:
        return
    # Werkzeug reads an unquoted `3` as the tag "3"; a malformed field names no tag.
    if not _IF_MATCH.fullmatch(header) or not request.if_match.contains(str(version)):
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
    for header in request.headers.getlist("Prefer"):
        for preference in header.split(","):
            match = _WAIT.match(preference.split(";", 1)[0])
            if match:  # a huge number is still a long wait; int() refuses 4300+ digits
                digits = match.group(1).lstrip("0") or "0"
                seconds = int(digits) if len(digits) <= 9 else WAIT_MAX
                return min(max(seconds, WAIT_MIN), WAIT_MAX)
    return None


def watch(row: Any, lookup: Lookup) -> tuple[Any, dict[str, str]]:
    """Hold the request while the client's version is current, up to the preferred wait.

    Returns the newest row and extra headers. No pool connection is held while waiting:
    the listener wakes us and each check borrows one briefly.
    """
    wait = prefer_wait()
    conditional = "If-None-Match" in request.headers
    if wait is None or not conditional or not client_is_current(row.version):
        return row, {}
    deadline = time.monotonic() + wait
    release_conn()
    listener = get_listener()
    with listener.subscribe(row.id) as changed:
        row = _still_there(lookup())  # a change made before we subscribed
        release_conn()
        while client_is_current(row.version):
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not changed.wait(remaining) or listener.stopping:
                break  # at shutdown: answer now; the next poll (elsewhere) sees any change
            changed.clear()
            row = _still_there(lookup())
            release_conn()
    return row, {"Preference-Applied": f"wait={wait}"}


def _still_there(row: Any) -> Any:
    if row is None:
        raise NotFound("The configuration was deleted.")
    return row
