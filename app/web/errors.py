"""Domain errors and their RFC 9457 problem-details answers."""

from __future__ import annotations

from collections.abc import Callable
from http import HTTPStatus
from typing import Any, TypeVar

import psycopg2
from flask import Flask, Response, current_app, has_request_context, json, request
from marshmallow import ValidationError
from werkzeug import exceptions as werkzeug_exceptions
from werkzeug.exceptions import HTTPException

from app.db import PoolTimeout
from app.repositories import DomainError, MissingReference, StillInUse
from app.web.metrics import record_db_error

PROBLEM_JSON = "application/problem+json"
RETRY_AFTER_SECONDS = "1"
# RFC 9110 names; older Pythons' HTTPStatus still has the RFC 7231 ones.
_TITLES = {413: "Content Too Large", 422: "Unprocessable Content"}


class ServiceError(Exception):
    """Root of the errors a view may raise; each carries its HTTP status."""

    status = 500
    headers: dict[str, str] = {}

    def __init__(self, detail: str, errors: dict[str, list[str]] | None = None):
        super().__init__(detail)
        self.detail = detail
        self.errors = errors


class BadRequest(ServiceError):
    status = 400


class Unauthorized(ServiceError):
    status = 401
    headers = {"WWW-Authenticate": "Bearer"}


class Forbidden(ServiceError):
    status = 403


class NotFound(ServiceError):
    status = 404


class PreconditionFailed(ServiceError):
    status = 412


class Unprocessable(ServiceError):
    status = 422


class TooManyRequests(ServiceError):
    status = 429

    def __init__(self, detail: str, retry_after: int):
        super().__init__(detail)
        self.headers = {"Retry-After": str(retry_after)}


Row = TypeVar("Row")
# Renders an error for people rather than programs: (status, title, detail, headers).
ErrorPage = Callable[[int, str, str | None, dict[str, str]], Response]


def found(row: Row | None, detail: str) -> Row:
    """Return the row, or raise 404 with `detail` (the one 404 helper of the views)."""
    if row is None:
        raise NotFound(detail)
    return row


def problem(
    status: int,
    detail: str | None = None,
    errors: dict[str, Any] | None = None,
    headers: dict[str, str] | None = None,
) -> Response:
    """Build a problem-details response."""
    title = _TITLES.get(status) or HTTPStatus(status).phrase
    page = _error_page()
    if page is not None:
        return page(status, title, detail, headers or {})
    body: dict[str, Any] = {"type": "about:blank", "title": title}
    body["status"] = status
    if detail:
        body["detail"] = detail
    if errors:
        body["errors"] = errors
    # The status line's reason phrase is the title (werkzeug's are RFC 7231's, upper-cased);
    # the newline ends the body as it ends a success body.
    response = current_app.response_class(
        json.dumps(body) + "\n", status=f"{status} {title}", mimetype=PROBLEM_JSON
    )
    response.headers.update(headers or {})
    return response


def register_error_page(app: Flask, prefix: str, render: ErrorPage) -> None:
    """Answer errors under a path prefix with `render` (HTML pages) instead of problems."""
    app.extensions.setdefault("error_pages", []).append((prefix, render))


def _error_page() -> ErrorPage | None:
    if not has_request_context():
        return None
    for prefix, render in current_app.extensions.get("error_pages", ()):
        if request.path.startswith(prefix):
            return render
    return None


def _http_error(exc: HTTPException) -> Response:
    # Keep the exception's own headers (Allow on 405, …) but not its HTML body.
    headers = {k: v for k, v in exc.get_headers() if k.lower() != "content-type"}
    return problem(exc.code or 500, _plain_detail(exc), headers=headers)


def _plain_detail(exc: HTTPException) -> str:
    """Say what went wrong in the service's words, not werkzeug's "check your spelling"."""
    if exc.code == 500:
        return "The server could not answer this request."
    if exc.description != type(exc).description:
        return exc.description or ""  # a message of our own
    path = request.path[:200]
    if isinstance(exc, werkzeug_exceptions.NotFound):
        routed = request.url_rule is not None
        return f"Nothing at {path}." if routed else f"No such route: {request.method} {path}."
    if isinstance(exc, werkzeug_exceptions.MethodNotAllowed) and exc.valid_methods:
        allowed = ", ".join(sorted(exc.valid_methods))
        return f"{request.method} is not allowed on {path}; it allows {allowed}."
    if isinstance(exc, werkzeug_exceptions.RequestEntityTooLarge):
        return f"The body is larger than the {request.max_content_length} bytes accepted."
    return exc.description or ""


def _validation_error(exc: ValidationError) -> Response:
    errors = exc.messages if isinstance(exc.messages, dict) else {"_schema": exc.messages}
    return problem(422, "Request body failed validation.", errors)


def _service_error(exc: ServiceError) -> Response:
    return problem(exc.status, exc.detail, exc.errors, headers=exc.headers)


def _domain_error(exc: DomainError) -> Response:
    if isinstance(exc, MissingReference):
        return problem(422, "Request body failed validation.", {exc.field: [str(exc)]})
    if isinstance(exc, StillInUse):
        return problem(409, f"{exc} Delete them first, or use ?cascade=true.")
    return problem(409, str(exc))


def _database_unavailable(exc: Exception) -> Response:
    current_app.logger.warning("database unavailable: %s", type(exc).__name__)
    record_db_error()
    return problem(
        503,
        "The database is unavailable or timed out; try again shortly.",
        headers={"Retry-After": RETRY_AFTER_SECONDS},
    )


def register_error_handlers(app: Flask) -> None:
    """Answer every error as problem details; unexpected ones become a plain 500."""
    app.register_error_handler(HTTPException, _http_error)
    app.register_error_handler(ValidationError, _validation_error)
    app.register_error_handler(ServiceError, _service_error)
    app.register_error_handler(DomainError, _domain_error)
    for exc_type in (psycopg2.OperationalError, psycopg2.InterfaceError, PoolTimeout):
        app.register_error_handler(exc_type, _database_unavailable)
