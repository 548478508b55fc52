"""What a view declares next to its route: the role it needs and its OpenAPI operation.

`@operation(role, answers, errors, ...)` under a route decorator is the one place a route's
access and documentation are written; auth and the OpenAPI document read them off the view.
A view without it needs the admin role, and the document test fails until it is described.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from marshmallow import Schema

from app.api.common import JSON, MERGE_PATCH
from app.openapi.components import ERRORS

__all__ = ["JSON", "MERGE_PATCH", "operation", "body", "ok", "no_content", "links"]
View = TypeVar("View", bound=Callable[..., Any])
OPEN = None  # the role of a route anyone may use, token or not
ETAG = ["ETag", "Cache-Control"]  # every answer carrying one configuration


def body(schema: type[Schema], *media_types: str, partial: bool = False) -> dict[str, Any]:
    """Return a required request body in each media type (JSON by default).

    The schema loses its read-only fields: the service refuses them (422) in a request.
    """
    read_only = tuple(name for name, field in schema._declared_fields.items() if field.dump_only)
    described: type[Schema] | Schema = schema
    if read_only or partial:
        described = schema(exclude=read_only, partial=partial)
    content = {media_type: {"schema": described} for media_type in media_types or (JSON,)}
    return {"required": True, "content": content}


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


def operation(
    role: str | None,
    success: dict[str, Any],
    errors: tuple[int, ...],
    parameters: Sequence[Any] = (),
    **extra: Any,
) -> Callable[[View], View]:
    """Declare a view's role (None: open) and its OpenAPI operation: success answers, error
    statuses, component parameter names, and any other operation field."""
    responses = {**success, **{str(status): ERRORS[status] for status in sorted(errors)}}
    described = {"parameters": [*parameters, "X-Request-ID"], "responses": responses, **extra}
    if role is OPEN:
        described["security"] = []

    def declare(view: View) -> View:
        # Plain attributes of the view function: mypy does not know a function can carry them.
        view.role = role  # type: ignore[attr-defined]
        view.openapi = described  # type: ignore[attr-defined]
        return view

    return declare


def links(parameters: dict[str, str], *operation_ids: str) -> dict[str, dict[str, Any]]:
    """Return OpenAPI links (get_version -> GetVersion) filling parameters from the answer."""
    return {
        "".join(word.title() for word in target.split("_")): {
            "operationId": target,
            "parameters": parameters,
        }
        for target in operation_ids
    }
