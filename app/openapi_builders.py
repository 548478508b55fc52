"""Helpers that spell the parts of an OpenAPI operation the way app/openapi_paths.py needs."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from marshmallow import Schema

from app.openapi_components import ERRORS

JSON, MERGE_PATCH = "application/json", "application/merge-patch+json"
READ = (401, 503)  # no valid token; database down
WRITE = (401, 403, 503)  # ... or a reader's token
BODY = (400, 413, 415, 422)  # malformed, too large, not JSON, invalid
ETAG = ["ETag", "Cache-Control"]  # every answer carrying one configuration


def body(schema: type[Schema], *media_types: str, partial: bool = False) -> dict[str, Any]:
    """Return a required request body in each media type (JSON by default).

    The schema loses its read-only fields: the service refuses them (422) in a request.
    """
    read_only = tuple(name for name, field in schema._declared_fields.items() if field.dump_only)
    if read_only or partial:
        schema = schema(exclude=read_only, partial=partial)  # type: ignore[assignment]
    return {"required": True, "content": {t: {"schema": schema} for t in media_types or (JSON,)}}


def ok(schema: Any, description: str, headers: Sequence[str] = (), **extra: Any) -> dict[str, Any]:
    """Return a JSON success answer carrying X-Request-ID and the named headers."""
    return {
        "description": description,
        "headers": {name: name for name in ["X-Request-ID", *headers]},
        "content": {extra.pop("media_type", JSON): {"schema": schema}},
        **extra,
    }


def no_content(description: str) -> dict[str, Any]:
    """Return a 204 answer."""
    return {"204": {"description": description, "headers": {"X-Request-ID": "X-Request-ID"}}}


def op(
    success: dict[str, Any], errors: tuple[int, ...], parameters: Sequence[Any] = (), **extra: Any
) -> dict[str, Any]:
    """Return an operation: success answers, error statuses, component parameter names."""
    responses = {**success, **{str(status): ERRORS[status] for status in sorted(errors)}}
    return {"parameters": [*parameters, "X-Request-ID"], "responses": responses, **extra}


def links(parameters: dict[str, str], *operation_ids: str) -> dict[str, dict[str, Any]]:
    """Return OpenAPI links (get_version -> GetVersion) filling parameters from the answer."""
    return {
        "".join(word.title() for word in target.split("_")): {
            "operationId": target,
            "parameters": parameters,
        }
        for target in operation_ids
    }
