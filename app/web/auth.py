"""Bearer-token authentication and role checks for /api/v1 (open paths aside)."""

from __future__ import annotations

import re
import time
from typing import Any

from flask import Flask, Request, current_app, g, request

from app.db import get_conn
from app.live.listener import TOKENS
from app.repositories.tokens import TokenRepository
from app.web import API_PREFIX as API
from app.web.audit import ANONYMOUS
from app.web.errors import Forbidden, TooManyRequests, Unauthorized
from app.web.throttle import Failures, Probe, client_address
from app.web.tokens import ADMIN, RANK, READER, SECRET_PATTERN, hash_secret
from app.worker import current_worker

# Every route under API needs the role its view declares with @operation (None: open, as
# the API's description is). A view that declares none needs admin: a new route is closed
# until someone decides who may use it. Paths outside API (/healthz, /metrics, …) are open.
API_PREFIX = f"{API}/"
TOUCH_EVERY_SECONDS = 60.0
TOKENS_KEY = ("tokens",)  # the worker's read cache keeps the live tokens under this key
_BEARER = re.compile(r"Bearer +(\S+) *", re.IGNORECASE)


def required_role(req: Request) -> str | None:
    """Return the least role that may send this request (None: no token needed)."""
    if req.url_rule is None:  # unknown path or method: any valid token may learn it
        return None if req.path in _open_paths(current_app) else READER
    role = getattr(current_app.view_functions[req.url_rule.endpoint], "role", ADMIN)
    if req.method == "OPTIONS" and role not in (ADMIN, None):
        return READER  # it only tells which methods the route allows
    return role


def _open_paths(app: Flask) -> frozenset[str]:
    """Return the paths of the open routes (a 405 on them needs no token either)."""
    paths = app.extensions.get("open_paths")
    if paths is None:
        views = app.view_functions
        paths = app.extensions["open_paths"] = frozenset(
            rule.rule for rule in app.url_map.iter_rules()
            if getattr(views[rule.endpoint], "role", ADMIN) is None
        )  # fmt: skip
    return paths


def authenticate() -> None:
    """Set g.actor from the bearer token, or refuse with 401 / 403 (before routing)."""
    g.actor, g.scope = ANONYMOUS, None
    token = _permitted_token()
    if token is not None:
        g.actor = token["name"]
        g.scope = token_scope(token)


def token_scope(token: dict[str, Any]) -> frozenset[str] | None:
    """Return the ids of the applications a token may see (None: every one)."""
    return None if token["scope"] is None else frozenset(token["scope"])


def check_again() -> None:
    """Refuse with 401 / 403 if the request's token was revoked or lost the role it needs
    since the request began (a long poll asks after every wake-up)."""
    _permitted_token()


def _permitted_token() -> dict[str, Any] | None:
    """Return the request's token if it may send the request (None: no token needed)."""
    req = request._get_current_object()  # type: ignore[attr-defined]  # unproxied, for speed
    if not current_app.config["AUTH_ENABLED"] or not _under_api(req):
        return None
    needed = required_role(req)
    if needed is None:
        return None
    token = _presented_token(req)
    touch(token["name"])  # a 403 is a use too: `flask tokens list` must show it
    if not has_role(token, needed):
        raise Forbidden(f"This needs the {needed} role; the token has {token['role']}.")
    return token


def has_role(token: dict[str, Any], needed: str) -> bool:
    """Tell whether a token's role is at least the needed one."""
    return RANK[token["role"]] >= RANK[needed]


def bearer_secret(authorization: str) -> str | None:
    """Return the secret of an `Authorization: Bearer` field (None: not that scheme)."""
    match = _BEARER.fullmatch(authorization)
    return match.group(1) if match else None


def _under_api(req: Request) -> bool:
    """Tell whether the request is for the API: by its path, before routing, or by its route."""
    rule = req.url_rule.rule if req.url_rule is not None else ""
    return any(text == API or text.startswith(API_PREFIX) for text in (req.path, rule))


def _presented_token(req: Request) -> dict[str, Any]:
    """Return the live token the request names, or raise 401 (429 when its address keeps
    presenting tokens that are not)."""
    secret = bearer_secret(req.headers.get("Authorization", ""))
    token = token_for_secret(secret)
    if token is not None:
        return token
    wait = failed_attempt(req)
    if wait is not None:
        raise TooManyRequests("Too many requests with a missing or unknown token.", wait)
    if secret is None:
        raise Unauthorized("Send an API token: Authorization: Bearer <token>.")
    raise Unauthorized("The API token is unknown or revoked.")


def token_for_secret(secret: str | None) -> dict[str, Any] | None:
    """Return the live token with this secret (None: unknown, revoked or not one of ours)."""
    # Only our own format reaches the token list, and so the database.
    listed = secret is not None and SECRET_PATTERN.fullmatch(secret)
    return live_token(hash_secret(secret)) if listed else None  # type: ignore[arg-type]  # listed: not None


def failed_attempt(req: Request) -> int | None:
    """Note a refused token from the request's address; return the seconds it must wait
    before trying again when it keeps presenting tokens that are not (None: it may now)."""
    failures = current_app.extensions["auth_failures"]
    address = client_address(req, current_app.config["TRUSTED_PROXIES"])
    failures.failed(address)
    return failures.retry_after(address)


def live_token(digest: bytes, always_look_up: bool = False) -> dict[str, Any] | None:
    """Find a token in the worker's list of live tokens (read once per token change: any
    create, revoke or role change forgets it). One not listed is looked up at most once a
    second per worker: only a token made a moment ago, its NOTIFY still on the way, is
    (`always_look_up`: every time, for a caller that already found the hash in a row of its
    own, such as a console session, so no stranger's guess reaches the database this way).
    A request's `Cache-Control: no-cache` is about its answer, not this list: honouring it
    would give every unknown token its database round trip back."""
    live = current_worker().cached(
        TOKENS_KEY,
        lambda: TokenRepository(get_conn()).live(),
        lambda _: (TOKENS,),
        lambda tokens: 64 + 256 * len(tokens),
    )
    token = live.get(digest)
    if token is None and (always_look_up or current_app.extensions["token_probe"].allow()):
        token = TokenRepository(get_conn()).find_active(digest)
    return token


def touch(name: str) -> None:
    """Move last_used_at forward at most about once a minute per token and process
    (the statement itself skips a row touched less than a minute ago)."""
    if not touch_due(current_app, name):
        return
    # noted before the write: concurrent threads skip it (no lock needed)
    current_app.extensions["tokens_touched"][name] = time.monotonic()
    TokenRepository(get_conn()).touch(name)


def touch_due(app: Flask, name: str) -> bool:
    """Tell whether this process should record the token's use now."""
    last = app.extensions["tokens_touched"].get(name, -TOUCH_EVERY_SECONDS)
    return time.monotonic() - last >= TOUCH_EVERY_SECONDS


def init_app(app: Flask) -> None:
    """Check the token of every request, after the request id is set."""
    app.extensions["tokens_touched"] = {}
    if not app.config["AUTH_ENABLED"]:
        origin = app.config.get("SETTINGS_ORIGIN", {}).get("AUTH_ENABLED", "the settings")
        app.logger.warning(
            "AUTH_ENABLED is false (from %s): /api/v1 answers anyone, without a token", origin
        )
    app.extensions["token_probe"] = Probe()
    app.extensions["auth_failures"] = Failures(app.config["AUTH_FAILURES_ALLOWED"])
    app.before_request(authenticate)
