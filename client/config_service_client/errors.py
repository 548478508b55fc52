"""Typed errors: one class per kind of failure, all under ConfigServiceError."""

from __future__ import annotations

import json
from typing import Any


class ConfigServiceError(Exception):
    """Base of every error this client raises."""

    retryable = False  # a watcher backs off and tries again only when this is true

    def __init__(
        self,
        message: str,
        status: int | None = None,
        problem: dict[str, Any] | None = None,
        retry_after: float | None = None,
    ):
        super().__init__(message)
        self.status = status
        self.problem = problem or {}
        self.retry_after = retry_after


class Unauthorized(ConfigServiceError):
    """401: the token is missing, unknown or revoked."""


class Forbidden(ConfigServiceError):
    """403: the token's role may not do this."""


class NotFound(ConfigServiceError):
    """404: no such configuration (or application, or environment)."""


class Conflict(ConfigServiceError):
    """409: the write conflicts with what the server holds."""


class PreconditionFailed(ConfigServiceError):
    """412: If-Match did not match the current ETag."""


class TooManyRequests(ConfigServiceError):
    """429: slow down; `retry_after` says for how long."""

    retryable = True


class ServerError(ConfigServiceError):
    """5xx: the server (or its database) cannot answer now."""

    retryable = True


class Unreachable(ConfigServiceError):
    """No answer: connection refused or reset, DNS failure, or a timeout."""

    retryable = True


class UnexpectedResponse(ConfigServiceError):
    """An answer this client does not understand (a status or a body)."""


BY_STATUS: dict[int, type[ConfigServiceError]] = {
    401: Unauthorized,
    403: Forbidden,
    404: NotFound,
    409: Conflict,
    412: PreconditionFailed,
    429: TooManyRequests,
}


def error_for(status: int, body: bytes, retry_after: float | None, what: str) -> ConfigServiceError:
    """Build the error for a non-success answer, keeping its RFC 9457 problem fields."""
    problem = _problem(body)
    kind = BY_STATUS.get(status) or (ServerError if status >= 500 else UnexpectedResponse)
    reason = problem.get("detail") or problem.get("title") or "no detail given"
    message = f"{what}: HTTP {status}: {reason}"
    return kind(message, status=status, problem=problem, retry_after=retry_after)


def _problem(body: bytes) -> dict[str, Any]:
    try:
        parsed = json.loads(body.decode("utf-8")) if body else {}
    except (UnicodeDecodeError, ValueError):
        return {}
    return parsed if isinstance(parsed, dict) else {}
