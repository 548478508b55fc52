"""One round of watching: POST /watch for many targets, or a long-poll GET for one."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from config_service_client.client import WAIT_MARGIN, Client
from config_service_client.errors import NotFound, UnexpectedResponse, error_for
from config_service_client.result import Result
from config_service_client.target import Target
from config_service_client.transport import Connection

WATCH_PATH = "/api/v1/watch"
MOST_ENTRIES = 1000  # what one POST /watch may carry


class WatchUnsupported(Exception):
    """The server has no POST /watch (404 or 405): watch with long-poll GETs instead."""


def post_watch(
    client: Client, targets: Sequence[Target], held: Sequence[str | None], wait: int,
    connection: Connection,
) -> list[tuple[int, Result]]:  # fmt: skip
    """Wait for any target to differ from the ETag held; return (index, result) per change."""
    entries = [target.watch_entry(etag) for target, etag in zip(targets, held, strict=True)]
    body = json.dumps({"watch": entries}).encode("utf-8")
    headers = {"Content-Type": "application/json", "Prefer": f"wait={wait}"}
    timeout = client.timeout + wait + WAIT_MARGIN
    answer = client.send("POST", WATCH_PATH, timeout, headers, body, connection)
    if answer.status in (404, 405):
        raise WatchUnsupported()
    if answer.status != 200:
        raise error_for(answer.status, answer.body, answer.retry_after(), f"POST {WATCH_PATH}")
    found = []
    for change in _changes(answer.body):
        index = change.get("index")
        if not isinstance(index, int) or not 0 <= index < len(targets):
            raise UnexpectedResponse(f"POST {WATCH_PATH}: a change names no entry: {change!r}")
        target = targets[index]
        if change.get("configuration") is None:
            raise NotFound(f"{target.label()}: HTTP 404: it does not exist (or is not readable)")
        found.append((index, client.accept(target, change.get("etag"), change["configuration"])))
    return found


def poll_one(
    client: Client, target: Target, etag: str | None, wait: int, connection: Connection
) -> list[tuple[int, Result]]:
    """Long-poll one target; return [(0, result)] when it changed, else []."""
    result = client.poll(target, etag, wait, connection)
    return [] if result is None else [(0, result)]


def _changes(body: bytes) -> list[dict[str, Any]]:
    try:
        parsed = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise UnexpectedResponse(f"POST {WATCH_PATH}: the answer is not JSON") from exc
    changes = parsed.get("changes") if isinstance(parsed, dict) else None
    if not isinstance(changes, list) or not all(isinstance(c, dict) for c in changes):
        raise UnexpectedResponse(f"POST {WATCH_PATH}: the answer has no list of changes")
    return changes
