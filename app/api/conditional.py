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
_WAIT = re.compile(r"^\s*wait\s*=\s*\"?(\d{1,9})\"?\s*$", re.IGNORECASE)

Lookup = Callable[[], "dict[str, Any] | None"]


def etag_headers(version: int) -> dict[str, str]:
    """Return the validators every single-configuration answer carries."""
    return {"ETag": f'"{version}"', "Cache-Control": "no-cache"}


def client_is_current(version: int) -> bool:
    """Tell whether If-None-Match (weak comparison, `*` allowed) names this version."""
    return request.if_none_match.contains_weak(str(version))


def check_if_match(version: int) -> None:
    """Refuse with 412 unless If-Match is absent, `*`, or strongly names this version."""
    if "If-Match" in request.headers and not request.if_match.contains(str(version)):
        raise PreconditionFailed(f"If-Match does not match the current version, {version}.")


def prefer_wait() -> int | None:
    """Return the `Prefer: wait=N` seconds clamped to 1..60, or None if absent or unreadable."""
    for header in request.headers.getlist("Prefer"):
        for preference in header.split(","):
            match = _WAIT.match(preference.split(";", 1)[0])
            if match:
                return min(max(int(match.group(1)), WAIT_MIN), WAIT_MAX)
    return None


def watch(row: dict[str, Any], lookup: Lookup) -> tuple[dict[str, Any], dict[str, str]]:
    """Hold the request while the client's version is current, up to the preferred wait.

    Returns the newest row and extra headers. No pool connection is held while waiting:
    the listener wakes us and each check borrows one briefly.
    """
    wait = prefer_wait()
    conditional = "If-None-Match" in request.headers
    if wait is None or not conditional or not client_is_current(row["version"]):
        return row, {}
    deadline = time.monotonic() + wait
    release_conn()
    with get_listener().subscribe(row["id"]) as changed:
        row = _still_there(lookup())  # a change made before we subscribed
        release_conn()
        while client_is_current(row["version"]):
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not changed.wait(remaining):
                break
            changed.clear()
            row = _still_there(lookup())
            release_conn()
    return row, {"Preference-Applied": f"wait={wait}"}


def _still_there(row: dict[str, Any] | None) -> dict[str, Any]:
    if row is None:
        raise NotFound("The configuration was deleted.")
    return row
