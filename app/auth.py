"""Bearer-token authentication and role checks for /api/v1 (open paths aside)."""

from __future__ import annotations

import re
import time
from typing import Any

from flask import Flask, Request, current_app, g, request

from app.api.v1 import PREFIX as API
from app.audit import ANONYMOUS
from app.cache import TOKENS, cached
from app.db import get_conn
from app.errors import Forbidden, Unauthorized
from app.repositories.tokens import TokenRepository
from app.tokens import RANK, SECRET_PATTERN, hash_secret

# Every path under API needs a token except these, the API's description. Paths outside
# it (/healthz, /readyz, /metrics, the docs' assets) are open.
OPEN_PATHS = frozenset({f"{API}/openapi.json", f"{API}/docs"})
API_PREFIX = f"{API}/"
READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
# Blueprint -> (role to read, role to write). A blueprint missing here needs admin for
# everything: a new route is closed until someone decides who may use it.
ACCESS = {
    "applications": ("reader", "writer"),
    "configurations": ("reader", "writer"),
    "versions": ("reader", "writer"),
    "audit": ("admin", "admin"),
}
TOUCH_EVERY_SECONDS = 60.0
_BEARER = re.compile(r"Bearer +(\S+) *", re.IGNORECASE)


def required_role(blueprint: str | None, method: str, routed: bool) -> str:
    """Return the least role that may send `method` to a route of `blueprint`."""
    if not routed:  # unknown path or method: any valid token may learn it is a 404/405
        return "reader"
    read, write = ACCESS.get(blueprint or "", ("admin", "admin"))
    return read if method in READ_METHODS else write


def authenticate() -> None:
    """Set g.actor from the bearer token, or refuse with 401 / 403 (before routing)."""
    g.actor = ANONYMOUS
    req = request._get_current_object()  # type: ignore[attr-defined]
    if not current_app.config["AUTH_ENABLED"] or not _protected(req):
        return
    token = _presented_token(req)
    needed = required_role(req.blueprint, req.method, req.url_rule is not None)
    if RANK[token["role"]] < RANK[needed]:
        raise Forbidden(f"This needs the {needed} role; the token has {token['role']}.")
    g.actor = token["name"]
    _touch(token["name"])


def _protected(req: Request) -> bool:
    """Tell whether the request is for the API: by its path, before routing, or by its route."""
    path = req.path
    rule = req.url_rule.rule if req.url_rule is not None else ""
    under_api = any(text == API or text.startswith(API_PREFIX) for text in (path, rule))
    return under_api and path not in OPEN_PATHS


def _presented_token(req: Request) -> dict[str, Any]:
    """Return the live token the request names, or raise 401."""
    match = _BEARER.fullmatch(req.headers.get("Authorization", ""))
    if match is None:
        raise Unauthorized("Send an API token: Authorization: Bearer <token>.")
    secret = match.group(1)
    token = None
    if SECRET_PATTERN.fullmatch(secret):  # only our own format reaches the database
        digest = hash_secret(secret)
        # A revocation or role change forgets every cached token (its NOTIFY); unknown
        # tokens are never cached, so a new one works at once.
        token = cached(
            ("token", digest),
            lambda: TokenRepository(get_conn()).find_active(digest),
            lambda _: (TOKENS,),
            lambda _: 64,
        )
    if token is None:
        raise Unauthorized("The API token is unknown or revoked.")
    return token


def _touch(name: str) -> None:
    """Move last_used_at forward at most about once a minute per token and process
    (the statement itself skips a row touched less than a minute ago)."""
    touched = current_app.extensions["tokens_touched"]
    now = time.monotonic()
    if now - touched.get(name, -TOUCH_EVERY_SECONDS) < TOUCH_EVERY_SECONDS:
        return
    touched[name] = now  # before the write: concurrent threads skip it (no lock needed)
    TokenRepository(get_conn()).touch(name)


def init_app(app: Flask) -> None:
    """Check the token of every request, after the request id is set."""
    app.extensions["tokens_touched"] = {}
    app.before_request(authenticate)
