"""Structured logging, the request id and the one log line per request."""

from __future__ import annotations

import json
import logging
import os
import re
import sys
import time
from typing import Any

from flask import Flask, Response, g, has_request_context, request

from app.web.converters import route_template

REQUEST_ID = re.compile(r"[A-Za-z0-9._-]{1,128}")
_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime"}


class _RequestIdFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "request_id"):
            record.request_id = g.get("request_id") if has_request_context() else None
        return True


# C0 and C1 controls, DEL and Unicode line separators: in a text line, a request path's %0a
# would start a new (forged) line. Each is written as a backslash escape instead.
_CONTROLS = {c: f"\\x{c:02x}" for c in [*range(0x20), *range(0x7F, 0xA0)]}
_CONTROLS.update({ord("\n"): "\\n", ord("\r"): "\\r", ord("\t"): "\\t"})
_CONTROLS.update({c: f"\\u{c:04x}" for c in (0x2028, 0x2029)})  # line breaks to some readers


class TextFormatter(logging.Formatter):
    """Format a record as one text line, control characters escaped (a traceback follows)."""

    def formatMessage(self, record: logging.LogRecord) -> str:
        return super().formatMessage(record).translate(_CONTROLS)


class JsonFormatter(logging.Formatter):
    """Format a record as one JSON object per line."""

    _second: tuple[int, str] = (-1, "")  # the last second formatted, and its text

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": self._time(record) + f".{int(record.msecs):03d}Z",
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        entry.update({k: v for k, v in vars(record).items() if k not in _STANDARD})
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)

    def _time(self, record: logging.LogRecord) -> str:
        # Formatting a time costs ~5 % of a cached read; a busy second formats it once.
        second, text = self._second
        if second != int(record.created):
            second = int(record.created)
            text = self.formatTime(record, "%Y-%m-%dT%H:%M:%S")
            self._second = (second, text)  # one assignment: threads see a consistent pair
        return text


def configure_logging(app: Flask) -> None:
    """Send the app's logs to stderr as JSON or text lines, each with the request id."""
    handler = logging.StreamHandler(sys.stderr)
    if app.config["LOG_FORMAT"] == "json":
        formatter: logging.Formatter = JsonFormatter()
        formatter.converter = time.gmtime
    else:
        formatter = TextFormatter("%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s")
    handler.setFormatter(formatter)
    handler.addFilter(_RequestIdFilter())
    app.logger.handlers[:] = [handler]
    app.logger.setLevel(app.config["LOG_LEVEL"])
    app.logger.propagate = False
    app.before_request(_start_request)
    app.after_request(_finish_request)


def request_id_of(environ: dict[str, Any]) -> str:
    """Return the request's id: the client's X-Request-ID if well-formed, else a new one."""
    sent = environ.get("HTTP_X_REQUEST_ID", "")
    return sent if REQUEST_ID.fullmatch(sent) else os.urandom(16).hex()


def log_request(
    logger: logging.Logger, method: str, path: str, route: str | None, status: int,
    started: float, request_id: str,
) -> None:  # fmt: skip
    """Write the one log line of an answered request (at INFO)."""
    if not logger.isEnabledFor(logging.INFO):
        return
    duration = time.perf_counter() - started
    extra = {
        "method": method,
        "route": route,
        "status": status,
        "duration_ms": round(duration * 1000, 3),
        "request_id": request_id,
    }
    # logger.info would look up its caller's file and line (~10 % of a cached read), which
    # no line shows: the record is made and handled as logger.info does, without that.
    args = (method, path, status)
    logger.handle(logger.makeRecord(logger.name, logging.INFO, __file__, 0, "%s %s %s", args,
                                    None, extra=extra))  # fmt: skip


def _start_request() -> None:
    g.started = time.perf_counter()
    g.request_id = request_id_of(request.environ)


def _finish_request(response: Response) -> Response:
    from flask import current_app

    request_id = g.get("request_id") or os.urandom(16).hex()
    response.headers["X-Request-ID"] = request_id
    req = request._get_current_object()  # type: ignore[attr-defined]  # unproxied, for speed
    route = route_template(req.url_rule) if req.url_rule else None
    started = g.get("started") or time.perf_counter()
    log_request(current_app.logger, req.method, req.path, route, response.status_code,
                started, request_id)  # fmt: skip
    return response
