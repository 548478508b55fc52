"""Request helpers every blueprint uses: JSON bodies, list parameters, cursors."""

from __future__ import annotations

import base64
import binascii
from typing import Any, cast

from flask import request
from marshmallow import Schema, ValidationError
from werkzeug.exceptions import RequestEntityTooLarge, UnsupportedMediaType

from app.documents import load as jsonload
from app.schemas.common import PageQuerySchema
from app.web.errors import BadRequest, Unprocessable
from app.web.transport import body_read

JSON = "application/json"
MERGE_PATCH = "application/merge-patch+json"


def json_body(*media_types: str) -> dict[str, Any]:
    """Return the request's JSON object; 415, 413 and 400 as docs/api.md describes."""
    if request.mimetype not in (media_types or (JSON,)):
        raise UnsupportedMediaType(f"Send the body as {' or '.join(media_types or (JSON,))}.")
    raw = _read_body()
    try:
        data = jsonload.loads(raw.decode("utf-8"))
    except (ValueError, RecursionError) as exc:
        reason = "nested too deeply" if isinstance(exc, RecursionError) else str(exc)[:200]
        raise BadRequest(f"Request body is not valid JSON: {reason}.") from None
    if not isinstance(data, dict):
        raise Unprocessable(
            "Request body failed validation.", {"_schema": ["Body must be a JSON object."]}
        )
    return data


def _read_body() -> bytes:
    """Return the whole body, or raise 413 when it is over MAX_CONTENT_LENGTH."""
    raw = request.get_data(cache=False)  # raises 413 when Content-Length is too large
    limit = request.max_content_length
    # werkzeug cuts a streamed (chunked) body at the limit without an error: look for more.
    streamed_to_limit = request.content_length is None and limit is not None and len(raw) >= limit
    if streamed_to_limit and request.environ["wsgi.input"].read(1):
        raise RequestEntityTooLarge()
    body_read()
    return raw


_PAGE_QUERY = PageQuerySchema()


def page_query(schema: Schema | None = None) -> dict[str, Any]:
    """Return validated list parameters (PageQuerySchema unless `schema`); 400 if bad."""
    try:
        return (schema or _PAGE_QUERY).load(request.args.to_dict(flat=True))
    except ValidationError as exc:
        raise BadRequest("Invalid query parameter.", cast(dict, exc.messages)) from None


def encode_cursor(value: str) -> str:
    """Make an opaque cursor from the last key of a page."""
    return base64.urlsafe_b64encode(value.encode()).decode().rstrip("=")


def decode_cursor(cursor: str | None, valid: Any) -> str | None:
    """Return the key inside a cursor, or raise 400 when it is not one of ours."""
    if cursor is None:
        return None
    try:
        value = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        value = None
    if value is None or not valid(value):
        raise BadRequest("Invalid query parameter.", {"cursor": ["Not a valid cursor."]})
    return value


def page(
    rows: list[dict[str, Any]], limit: int, key: str = "id", max_bytes: int | None = None
) -> dict[str, Any]:
    """Turn the fetched rows into `{items, next_cursor}`.

    Items are taken up to `limit`, and (with `max_bytes`) only while the `size` of those
    taken is under it: a page always has one item, and at most one that crosses the cap.
    The repository fetches one row beyond the page, so a cursor follows when more exist.
    """
    items: list[dict[str, Any]] = []
    taken = 0
    for row in rows:
        if len(items) == limit or (max_bytes is not None and items and taken >= max_bytes):
            break
        taken += row.pop("size", 0)
        items.append(row)
    next_cursor = encode_cursor(str(items[-1][key])) if len(rows) > len(items) else None
    return {"items": items, "next_cursor": next_cursor}


def like_prefix(prefix: str | None) -> str:
    """Return a LIKE pattern matching names that start with `prefix` literally."""
    escaped = (prefix or "").replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return escaped + "%"
