"""Structured logging, the request id and the one log line per request."""

from __future__ import annotations

import json
import logging
import os
import re
import sys
import time

from flask import Flask, Response, g, has_request_context, request

REQUEST_ID = re.compile(r"[A-Za-z0-9._-]{1,128}")
_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime"}


class _RequestIdFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "request_id"):
            record.request_id = g.get("request_id") if has_request_context() else None
        return True


class JsonFormatter(logging.Formatter):
    """Format a record as one JSON object per line."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S") + f".{int(record.msecs):03d}Z",
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        entry.update({k: v for k, v in vars(record).items() if k not in _STANDARD})
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


def configure_logging(app: Flask) -> None:
    """Send the app's logs to stderr as JSON or text lines, each with the request id."""
    handler = logging.StreamHandler(sys.stderr)
    if app.config["LOG_FORMAT"] == "json":
        formatter: logging.Formatter = JsonFormatter()
        formatter.converter = time.gmtime
    else:
        formatter = logging.Formatter(
            "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"
        )
    handler.setFormatter(formatter)
    handler.addFilter(_RequestIdFilter())
    app.logger.handlers[:] = [handler]
    app.logger.setLevel(app.config["LOG_LEVEL"])
    app.logger.propagate = False
    app.before_request(_start_request)
    app.after_request(_finish_request)


def _start_request() -> None:
    g.started = time.perf_counter()
    sent = request.headers.get("X-Request-ID", "")
    g.request_id = sent if REQUEST_ID.fullmatch(sent) else os.urandom(16).hex()


def _finish_request(response: Response) -> Response:
    from flask import current_app

    request_id = g.get("request_id") or os.urandom(16).hex()
    response.headers["X-Request-ID"] = request_id
    logger = current_app.logger
    if not logger.isEnabledFor(logging.INFO):
        return response
    req = request._get_current_object()  # type: ignore[attr-defined]
    duration = time.perf_counter() - g.get("started", time.perf_counter())
    logger.info(
        "%s %s %s",
        req.method,
        req.path,
        response.status_code,
        extra={
            "method": req.method,
            "route": req.url_rule.rule if req.url_rule else None,
            "status": response.status_code,
            "duration_ms": round(duration * 1000, 3),
            "request_id": request_id,
        },
    )
    return response
