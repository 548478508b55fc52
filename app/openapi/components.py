"""Reusable parts of the OpenAPI document: headers, parameters and error answers."""

from __future__ import annotations

from typing import Any

from app.schemas.common import PageQuerySchema
from app.schemas.problems import ProblemSchema
from app.web.errors import PROBLEM_JSON as PROBLEM


def _header(description: str, schema: dict[str, Any], required: bool = True) -> dict[str, Any]:
    return {"description": description, "required": required, "schema": schema}


HEADERS: dict[str, dict[str, Any]] = {
    "X-Request-ID": _header(
        "The client's X-Request-ID when it is sane, else one the service made up.",
        {"type": "string", "pattern": "^[A-Za-z0-9._-]{1,128}$"},
    ),
    "ETag": _header(
        "The version as a strong entity tag; a configuration resolved for an environment"
        ' has `"<version>.<overlay version>"`.',
        {"type": "string", "pattern": '^"[0-9]+(\\.[0-9]+)?"$'},
    ),
    "Cache-Control": _header("Revalidate before reuse.", {"type": "string", "enum": ["no-cache"]}),
    "Location": _header("URL of the new resource.", {"type": "string"}),
    "Preference-Applied": _header(
        "The honoured wait, when the request waited for a change.",
        {"type": "string", "pattern": "^wait=[0-9]+$"},
        required=False,
    ),
    "Retry-After": _header("Seconds to wait before trying again.", {"type": "string"}),
    "WWW-Authenticate": _header("The scheme to authenticate with.", {"type": "string"}),
}


def _in_header(name: str, description: str, example: str) -> dict[str, Any]:
    # The example goes in the text, never in `example`: Swagger UI's "Try it out" would
    # pre-fill it into an optional header (a GET then waited 30 s on `Prefer: wait=30`).
    described = f"{description} Example: `{name}: {example}`."
    return {"in": "header", "name": name, "description": described, "schema": {"type": "string"}}


PARAMETERS: dict[str, dict[str, Any]] = {
    "If-Match": _in_header(
        "If-Match",
        "Write only if the current ETag is one of these (strong comparison) or `*`;"
        " else 412 and nothing is written. Entity tags are quoted.",
        '"3"',
    ),
    "If-None-Match": _in_header(
        "If-None-Match",
        "Answer 304 with no body while the current ETag is one of these (weak comparison) or `*`.",
        '"3"',
    ),
    "Prefer": _in_header(
        "Prefer",
        "`wait=N`: with If-None-Match, hold the request until the version changes (200) or"
        " N seconds pass (304). N is clamped to 1-60; an unreadable preference is ignored.",
        "wait=30",
    ),
    "X-Request-ID": _in_header(
        "X-Request-ID",
        "Echoed back and logged when it is 1-128 characters of `[A-Za-z0-9._-]`;"
        " anything else is replaced by a generated id.",
        "checkout-7f3a",
    ),
    "environment": {
        "in": "query",
        "name": "environment",
        "description": "Answer the configuration resolved for this environment: its overlay"
        " applied to the base config (404 for an unknown environment).",
        "schema": {"type": "string"},
    },
    "cascade": {
        "in": "query",
        "name": "cascade",
        "description": "Also delete the application's configurations (else 409 while it has any).",
        "schema": {"type": "string", "enum": ["true", "false"], "default": "false"},
    },
}
# Error statuses most operations share.
READ = (401, 429, 503)  # no valid token (429: too many from one address); database down
WRITE = (401, 403, 429, 503)  # ... or a reader's token
BODY = (400, 413, 415, 422)  # malformed, too large, not JSON, invalid
# The list query parameters come straight from the schema the views load them with.
PAGE_QUERY = {"in": "query", "schema": PageQuerySchema}
VERSION_PAGE_QUERY = {"in": "query", "schema": PageQuerySchema(only=("limit", "cursor"))}


def _problem(description: str, *headers: str) -> dict[str, Any]:
    return {
        "description": description,
        "headers": {name: name for name in ("X-Request-ID", *headers)},
        "content": {PROBLEM: {"schema": ProblemSchema}},
    }


# status -> (component name, what it means); every one a problem-details body.
PROBLEMS = {
    400: ("BadRequest", "Malformed JSON, or an invalid query parameter (`errors` names it)."),
    401: ("Unauthorized", "No valid bearer token."),
    403: ("Forbidden", "The token's role may not do this."),
    404: ("NotFound", "No such resource (an id that is not a ULID included)."),
    409: ("Conflict", "The name is taken, or the resource is still in use."),
    412: ("PreconditionFailed", "If-Match does not name the current version; nothing written."),
    413: ("ContentTooLarge", "The body is larger than the service accepts (MAX_CONTENT_LENGTH)."),
    415: ("UnsupportedMediaType", "The body's Content-Type is missing or not JSON."),
    422: ("UnprocessableContent", "The body failed validation (`errors` names each field)."),
    429: ("TooManyRequests", "Too many requests without a valid token from this address."),
    503: ("ServiceUnavailable", "The database is unreachable or timed out."),
}
ERRORS = {status: name for status, (name, _) in PROBLEMS.items()}
_EXTRA_HEADERS = {401: ("WWW-Authenticate",), 429: ("Retry-After",), 503: ("Retry-After",)}
RESPONSES: dict[str, dict[str, Any]] = {
    name: _problem(description, *_EXTRA_HEADERS.get(status, ()))
    for status, (name, description) in PROBLEMS.items()
}
RESPONSES["NotModified"] = {
    "description": "The client's copy (If-None-Match) is current: no body.",
    "headers": {
        name: name for name in ("X-Request-ID", "ETag", "Cache-Control", "Preference-Applied")
    },
}
