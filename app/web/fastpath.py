"""Cached configuration reads answered from the read cache's bytes, ahead of Flask.

A GET or HEAD of one configuration by id or by names (resolved for `?environment=NAME` or
not), whose token and answer the worker's read cache already holds, is answered here: no
routing, request context or hooks. It calls what the Flask path calls (token list, role and
scope, cache keys, ETag, request id, log line, metrics), so both answer alike; anything else
goes to Flask unchanged: any other query, `Prefer`, `Cache-Control: no-cache`, a body, a
cache miss, a token to load, refuse or record, an answer outside the token's scope, any
other path or method.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from typing import Any, NamedTuple

from flask import Flask

from app.api.conditional import etag_headers, names_version
from app.api.representation import Rendered, id_key, names_key, wants_fresh
from app.schemas.common import NAME_PATTERN, ULID_REGEX
from app.web import API_PREFIX as API
from app.web.auth import TOKENS_KEY, bearer_secret, has_role, token_scope, touch_due
from app.web.converters import route_template
from app.web.logs import log_request, request_id_of
from app.web.metrics import count_request, request_started
from app.web.scope import allows
from app.web.tokens import SECRET_PATTERN, hash_secret
from app.web.transport import NOSNIFF, has_body
from app.worker import current_worker

WSGIApp = Callable[[dict[str, Any], Any], Iterable[bytes]]
_BY_ID = re.compile(rf"{API}/configurations/({ULID_REGEX})")
_BY_NAMES = re.compile(rf"{API}/applications/by-name/([^/]+)/configurations/([^/]+)")
_STATUS = {200: "200 OK", 304: "304 NOT MODIFIED"}  # as werkzeug writes them
# The one query a cached read may carry: a resolved read's environment (a valid name).
_ENVIRONMENT = re.compile(r"environment=([A-Za-z0-9][A-Za-z0-9._-]{0,127})")


class Admission(NamedTuple):
    """A request admitted without Flask: its token's scope, and the cache hits that took."""

    scope: frozenset[str] | None
    cache_hits: int


def admitted_from_cache(app: Flask, authorization: str, needed: str) -> Admission | None:
    """Admit a request on the worker's token list alone: a listed token with the role, its
    last use recorded lately. None: authenticate() must decide (no or unknown token, a
    refusal, a list to load, a use to record), so refusals and writes stay in one place."""
    if not app.config["AUTH_ENABLED"]:
        return Admission(None, 0)
    secret = bearer_secret(authorization)
    if secret is None or not SECRET_PATTERN.fullmatch(secret):
        return None
    live = current_worker(app).cached_value(TOKENS_KEY)
    token = None if live is None else live.get(hash_secret(secret))
    if token is None or not has_role(token, needed) or touch_due(app, token["name"]):
        return None
    return Admission(token_scope(token), 1)


class Route(NamedTuple):
    """A read the fast path answers: its metrics label and the role its view declares."""

    template: str
    role: str


def cache_key(path: str, query: str = "") -> tuple[str, tuple[str, ...]] | None:
    """Return the endpoint and read cache key of a configuration read, or None."""
    environment = None
    if query:
        chosen = _ENVIRONMENT.fullmatch(query)
        if chosen is None:
            return None
        environment = chosen.group(1)
    match = _BY_ID.fullmatch(path)
    if match:
        key = id_key(match.group(1).upper(), environment)
        return "configurations.get_configuration", key
    match = _BY_NAMES.fullmatch(path)
    if match and NAME_PATTERN.fullmatch(match[1]) and NAME_PATTERN.fullmatch(match[2]):
        key = names_key(match[1], match[2], environment)
        return "configurations.get_configuration_by_name", key
    return None


class FastPath:
    """WSGI middleware: answer cached configuration reads, hand the rest to Flask."""

    def __init__(self, app: Flask, flask: WSGIApp):
        self.app, self.flask = app, flask
        self.routes = {
            rule.endpoint: Route(route_template(rule), _role(app, rule.endpoint))
            for rule in app.url_map.iter_rules()
            if rule.endpoint in ("configurations.get_configuration",
                                 "configurations.get_configuration_by_name")
        }  # fmt: skip

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        answer = self.answer(environ) if _plain_read(environ) else None
        if answer is None:
            return self.flask(environ, start_response)
        status, headers, body = answer
        start_response(status, headers)
        return [body]

    def answer(self, environ: dict[str, Any]) -> tuple[str, list, bytes] | None:
        """Return the status, headers and body of a cached read, or None for Flask."""
        found = cache_key(environ.get("PATH_INFO", ""), environ.get("QUERY_STRING", ""))
        route = self.routes.get(found[0]) if found is not None else None
        if found is None or route is None:  # not a read, or an app without these routes
            return None
        key = found[1]
        started = request_started(self.app)
        worker = current_worker(self.app)
        rendered: Rendered | None = worker.cached_value(key)  # first: a miss costs no more
        if rendered is None:
            return None
        admission = admitted_from_cache(self.app, environ.get("HTTP_AUTHORIZATION", ""), route.role)
        if admission is None or not allows(admission.scope, rendered.application_id):
            return None
        for _ in range(admission.cache_hits + 1):
            worker.metrics.count_cache_lookup("hit")
        return self._send(environ, route, rendered, started)

    def _send(
        self, environ: dict[str, Any], route: Route, rendered: Rendered, started: float
    ) -> tuple[str, list, bytes]:
        """Build the answer Flask would give, then log and count it as Flask's hooks do."""
        headers = list(etag_headers(rendered.tag).items())
        if names_version(environ.get("HTTP_IF_NONE_MATCH"), rendered.tag):
            status, body = 304, b""
        else:
            status, body = 200, rendered.body
            headers += [("Content-Type", "application/json"), ("Content-Length", str(len(body)))]
        request_id = request_id_of(environ)
        headers += [NOSNIFF, ("X-Request-ID", request_id)]
        method, path = environ["REQUEST_METHOD"], environ["PATH_INFO"]
        count_request(self.app.extensions["metrics"], method, route.template, status, started)
        log_request(self.app.logger, method, path, route.template, status, started, request_id)
        return _STATUS[status], headers, b"" if method == "HEAD" else body


def _role(app: Flask, endpoint: str) -> str:
    return getattr(app.view_functions[endpoint], "role")  # noqa: B009  # set by @operation


def _plain_read(environ: dict[str, Any]) -> bool:
    """Tell whether a request is a plain GET or HEAD: nothing that changes its answer or
    how its connection ends (`Prefer`, `no-cache`, a body; cache_key judges the query)."""
    return (
        environ["REQUEST_METHOD"] in ("GET", "HEAD")
        and "HTTP_PREFER" not in environ
        and not wants_fresh(environ)
        and not has_body(environ)
    )


def init_app(app: Flask) -> None:
    """Put the fast path in front of Flask if FAST_PATH is on (after the routes exist)."""
    if app.config["FAST_PATH"]:
        app.wsgi_app = FastPath(app, app.wsgi_app)  # type: ignore[method-assign]  # the WSGI middleware idiom
