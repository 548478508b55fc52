"""What every answer says about its connection and content: close after an unread body, nosniff.

A request body the service did not read to its end (a 413, or any answer sent before the
body was read: 401, 404, 405, 415, …) leaves bytes on the connection where the next request
should start. gunicorn drains at most 64 KiB of them and otherwise closes the connection
without having said so, and the client's next request on it fails. So such an answer says
`Connection: close`, and the server is told to close it.
"""

from __future__ import annotations

from typing import Any

from flask import Flask, Response, g, request

# The WSGI start_response of the request, kept in its environ by ConfigService.wsgi_app.
START_RESPONSE = "config_service.start_response"
# Browsers must take each answer for its declared type (problem JSON, Swagger UI files).
NOSNIFF = ("X-Content-Type-Options", "nosniff")


def body_read() -> None:
    """Note that the request's body was read to its end (keep-alive may go on)."""
    g.body_read = True


def has_body(environ: dict[str, Any]) -> bool:
    """Tell whether a request comes with a body (a length, or chunks)."""
    if "chunked" in environ.get("HTTP_TRANSFER_ENCODING", "").lower():
        return True
    length = environ.get("CONTENT_LENGTH", "")
    return bool(length) and length != "0"


def _close_if_body_unread(response: Response) -> Response:
    environ = request.environ
    if g.get("body_read") or not has_body(environ):
        return response
    response.headers["Connection"] = "close"  # werkzeug's server honours it as it is
    # gunicorn drops an application's Connection header and writes its own, so ask it to
    # close: its start_response is a method of the response it is writing.
    server_response = getattr(environ.get(START_RESPONSE), "__self__", None)
    force_close = getattr(server_response, "force_close", None)
    if callable(force_close):
        force_close()
    return response


def _nosniff(response: Response) -> Response:
    response.headers[NOSNIFF[0]] = NOSNIFF[1]
    return response


def init_app(app: Flask) -> None:
    """Add the connection and content-type headers to every answer."""
    app.after_request(_close_if_body_unread)
    app.after_request(_nosniff)
