"""The "someone saved" notice: console.js asks here while a page edits a version."""

from __future__ import annotations

from flask import jsonify, request

from app.api.conditional import WAIT_MAX, WAIT_MIN, wait_for_change
from app.api.representation import lookup_by_id, visible, wake_keys
from app.console import blueprint
from app.console.browse import whole_number
from app.console.visitors import check_again
from app.web.errors import BadRequest

DEFAULT_WAIT = 30


def _number(name: str, default: int | None = None) -> int:
    number = whole_number(request.args.get(name))
    if number is not None:
        return number
    if default is None:
        raise BadRequest(f"?{name}= must be a whole number.")
    return default


@blueprint.get("/configurations/<ulid:configuration_id>/watch")
def watch(configuration_id: str):
    """Answer {"version": M} once the configuration is past ?version=N; 204 after the wait."""
    held = str(_number("version"))
    wait = min(max(_number("wait", DEFAULT_WAIT), WAIT_MIN), WAIT_MAX)
    lookup = lookup_by_id(configuration_id, None)
    row = visible(lookup())
    if row.tag == held:
        keys = wake_keys(configuration_id, None)
        row = wait_for_change(row, lookup, keys, wait, lambda tag: tag == held, check_again)
    if row.tag == held:
        return "", 204
    return jsonify(version=row.version)
