"""POST /api/v1/watch: one request waiting on many configurations, by id or by names."""

from __future__ import annotations

import threading
import time
from contextlib import ExitStack
from typing import Any

from flask import Blueprint, Response
from marshmallow import ValidationError

from app.api.common import JSON, json_body
from app.api.conditional import prefer_wait
from app.api.representation import (
    Rendered,
    read_by_id,
    read_by_names,
    read_resolved,
    read_resolved_by_names,
    wake_keys,
)
from app.db import release_conn
from app.live.listener import ENVIRONMENTS, EVERY_CONFIGURATION, NAMES
from app.openapi.builders import body, ok, operation
from app.openapi.components import BODY, READ
from app.schemas.common import NAME_PATTERN
from app.schemas.watch import ChangesSchema, WatchSchema
from app.web.auth import check_again
from app.web.errors import Unprocessable
from app.web.scope import in_scope
from app.web.tokens import READER
from app.worker import current_worker

blueprint = Blueprint("watch", __name__)
schema = WatchSchema()
Change = tuple[int, Rendered | None]  # an entry's index and its current state (None: absent)
NO_STORE = {
    "description": "The answer describes one moment: never reuse it.",
    "required": True,
    "schema": {"type": "string", "enum": ["no-store"]},
}
PREFER = {
    "in": "header",
    "name": "Prefer",
    "description": "`wait=N`: while every entry is as the client holds it, hold the request"
    " until one changes or N seconds pass (then `changes` is empty). N is clamped to 1-60;"
    " an unreadable preference is ignored and the answer comes at once."
    " Example: `Prefer: wait=30`.",
    "schema": {"type": "string"},
}
ANSWER = ok(
    ChangesSchema, "The entries that differ from what the client holds.", ["Preference-Applied"]
)
ANSWER["headers"]["Cache-Control"] = NO_STORE


@blueprint.post("/watch")
@operation(READER, {"200": ANSWER}, (*BODY, *READ), [PREFER], requestBody=body(WatchSchema))
def watch_configurations():
    """Answer which watched configurations differ; with `Prefer: wait`, wait for one to."""
    entries = _load(json_body())
    changes, headers = _wait_for_changes(entries, prefer_wait())
    headers["Cache-Control"] = "no-store"
    return Response(_changes_body(changes), 200, headers, mimetype=JSON)


def _load(data: dict[str, Any]) -> list[dict[str, Any]]:
    """Return the watched entries, or 422 with errors keyed like `watch.1.id`."""
    try:
        return schema.load(data)["watch"]
    except ValidationError as exc:
        raise Unprocessable("Request body failed validation.", _flat(exc.messages)) from None


def _flat(messages: Any, prefix: str = "") -> dict[str, list[str]]:
    if not isinstance(messages, dict):
        return {prefix or "_schema": list(messages)}
    flat: dict[str, list[str]] = {}
    for key, value in messages.items():
        name = prefix if key == "_schema" and prefix else ".".join(filter(None, [prefix, str(key)]))
        flat.update(_flat(value, name))
    return flat


def _wait_for_changes(entries: list[dict[str, Any]], wait: int | None) -> tuple[list[Change], dict]:
    """Return the entries that differ, waiting up to `wait` seconds for one to.

    No pool connection is held while waiting: each check borrows one and gives it back.
    Keys are subscribed before the check that follows, so no change falls between them.
    """
    changes, keys = _check(entries)
    if changes or wait is None:
        return changes, {}
    deadline = time.monotonic() + wait
    listener = current_worker().listener
    changed = threading.Event()
    subscribed: set[str] = set()
    with ExitStack() as subscriptions:
        while not changes:
            if keys - subscribed:  # a name now means another configuration: follow it too
                subscriptions.enter_context(listener.subscribe(*keys - subscribed, event=changed))
                subscribed |= keys
            elif listener.stopping or not changed.wait(max(deadline - time.monotonic(), 0)):
                break  # the wait is over; at shutdown the next poll (elsewhere) sees changes
            changed.clear()
            check_again()  # a token revoked or lowered while we waited gets nothing more
            changes, keys = _check(entries)
    return changes, {"Preference-Applied": f"wait={wait}"}


def _check(entries: list[dict[str, Any]]) -> tuple[list[Change], set[str]]:
    """Return the entries whose state differs from the client's, and the keys to wake on."""
    changes: list[Change] = []
    keys: set[str] = set()
    for index, entry in enumerate(entries):
        current, wake_on = _current(entry)
        keys.update(wake_on)
        if not _same(entry["etag"], current):
            changes.append((index, current))
    release_conn()
    return changes, keys


def _current(entry: dict[str, Any]) -> tuple[Rendered | None, tuple[str, ...]]:
    """Return an entry's configuration (None: absent, or outside the token's scope) and what
    its state can change with."""
    current, wake_on = _lookup(entry)
    if current is not None and not in_scope(current.application_id):
        return None, wake_on  # as if it did not exist
    return current, wake_on


def _lookup(entry: dict[str, Any]) -> tuple[Rendered | None, tuple[str, ...]]:
    environment = entry.get("environment")
    if environment is not None and not _possible(environment):
        return None, ()  # no environment can ever have this name
    if "id" in entry:
        if environment is None:
            return read_by_id(entry["id"]), (entry["id"],)
        return read_resolved(entry["id"], environment), wake_keys(entry["id"], environment)
    application, name = entry["application"], entry["name"]
    if not (_possible(application) and _possible(name)):
        return None, ()  # no configuration can ever have this name
    if environment is None:
        current = read_by_names(application, name)
    else:
        current = read_resolved_by_names(application, name, environment)
    if current is None:  # a creation, or a rename of a configuration or its application
        absent = (EVERY_CONFIGURATION, NAMES)  # (resolved: or an environment's creation)
        return None, absent if environment is None else (*absent, ENVIRONMENTS)
    return current, (*wake_keys(current.id, environment), NAMES)


def _possible(name: str) -> bool:
    return len(name) <= 128 and NAME_PATTERN.fullmatch(name) is not None


def _same(etag: str | None, current: Rendered | None) -> bool:
    """Compare the client's ETag with the current state, weakly as If-None-Match does."""
    if etag is None or current is None:
        return etag is None and current is None
    return etag.removeprefix("W/") == f'"{current.tag}"'


def _changes_body(changes: list[Change]) -> bytes:
    """Write the answer around the cached bodies: no configuration is serialized again."""
    items = [
        b'{"index":%d,"etag":"\\"%s\\"","configuration":%s}'
        % (index, current.tag.encode(), current.body.rstrip(b"\n"))
        if current
        else b'{"index":%d,"etag":null,"configuration":null}' % index
        for index, current in changes
    ]
    return b'{"changes":[' + b",".join(items) + b"]}\n"
