"""Domain errors and their RFC 9457 problem-details answers."""

from __future__ import annotations

from http import HTTPStatus
from typing import Any

import psycopg2
from flask import Flask, Response, current_app, json
from marshmallow import ValidationError
from werkzeug.exceptions import HTTPException

from app.db import PoolTimeout
from app.metrics import record_db_error

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


class Conflict(ServiceError):
    status = 409


class PreconditionFailed(ServiceError):
    status = 412


class Unprocessable(ServiceError):
    status = 422


def problem(
    status: int,
    detail: str | None = None,
    errors: dict[str, Any] | None = None,
    headers: dict[str, str] | None = None,
) -> Response:
    """Build a problem-details response."""
    title = _TITLES.get(status) or HTTPStatus(status).phrase
    body: dict[str, Any] = {"type": "about:blank", "title": title}
    body["status"] = status
    if detail:
        body["detail"] = detail
    if errors:
        body["errors"] = errors
    response = current_app.response_class(json.dumps(body), status=status, mimetype=PROBLEM_JSON)
    response.headers.update(headers or {})
    return response


def _http_error(exc: HTTPException) -> Response:
    # Keep the exception's own headers (Allow on 405, …) but not its HTML body.
    headers = {k: v for k, v in exc.get_headers() if k.lower() != "content-type"}
    detail = exc.description if exc.code != 500 else "The server could not answer this request."
    return problem(exc.code or 500, detail, headers=headers)


def _validation_error(exc: ValidationError) -> Response:
    errors = exc.messages if isinstance(exc.messages, dict) else {"_schema": exc.messages}
    return problem(422, "Request body failed validation.", errors)


def _service_error(exc: ServiceError) -> Response:
    return problem(exc.status, exc.detail, exc.errors, headers=exc.headers)


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
    for exc_type in (psycopg2.OperationalError, psycopg2.InterfaceError, PoolTimeout):
        app.register_error_handler(exc_type, _database_unavailable)
