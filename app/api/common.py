"""Request helpers every blueprint uses: JSON bodies, list parameters, cursors."""

from __future__ import annotations

import base64
import binascii
from typing import Any

from flask import request
from marshmallow import Schema, ValidationError
from werkzeug.exceptions import RequestEntityTooLarge, UnsupportedMediaType

from app import jsonload
from app.errors import BadRequest, Unprocessable
from app.schemas.common import PageQuerySchema

JSON = "application/json"
MERGE_PATCH = "application/merge-patch+json"


def json_body(*media_types: str) -> dict[str, Any]:
    """Return the request's JSON object; 415, 413 and 400 as the contract says."""
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
    if request.content_length is not None or limit is None or len(raw) < limit:
        return raw
    # werkzeug cuts a streamed (chunked) body at the limit without an error: look for more.
    if request.environ["wsgi.input"].read(1):
        raise RequestEntityTooLarge()
    return raw


_PAGE_QUERY = PageQuerySchema()


def page_query(schema: Schema | None = None) -> dict[str, Any]:
    """Return validated list parameters (PageQuerySchema unless `schema`); 400 if bad."""
    try:
        return (schema or _PAGE_QUERY).load(request.args.to_dict(flat=True))
    except ValidationError as exc:
        raise BadRequest("Invalid query parameter.", exc.messages) from None  # type: ignore[arg-type]


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


def page(rows: list[dict[str, Any]], limit: int, key: str = "id") -> dict[str, Any]:
    """Turn limit+1 fetched rows into `{items, next_cursor}`."""
    more = len(rows) > limit
    items = rows[:limit]
    next_cursor = encode_cursor(str(items[-1][key])) if more else None
    return {"items": items, "next_cursor": next_cursor}


def like_prefix(prefix: str | None) -> str:
    """Return a LIKE pattern matching names that start with `prefix` literally."""
    escaped = (prefix or "").replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return escaped + "%"
