"""Who is using the console: the session cookie's token, checked live on every request,
and the Origin and CSRF checks every form post passes."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from typing import NamedTuple
from urllib.parse import urlsplit

from flask import current_app, g, request

from app.console import blueprint
from app.db import get_conn
from app.repositories.console_sessions import ConsoleSessionRepository
from app.web.audit import ANONYMOUS
from app.web.auth import live_token, token_scope, touch
from app.web.errors import Forbidden
from app.web.tokens import ADMIN, RANK
from app.web.transport import body_read

SESSION_COOKIE = "console_session"
CSRF_COOKIE = "console_csrf"  # the form token before there is a session (double submit)
FORM_TYPES = ("multipart/form-data", "application/x-www-form-urlencoded")
SAFE = ("GET", "HEAD", "OPTIONS")  # methods that change nothing: no form token needed
FORM_ALLOWANCE = 4  # a console form may be this many times MAX_CONTENT_LENGTH
FORM_EXPIRED = "This form has expired or was not sent by this console."
# Reachable without a session: the sign-in form, its post, and the style and script.
OPEN_ENDPOINTS = frozenset({"console.index", "console.sign_in", "console.static"})


class Visitor(NamedTuple):
    """The person behind a request: their token's name and role, and their form token."""

    name: str
    role: str
    csrf: str
    session_id: str | None  # None: AUTH_ENABLED is false, nobody signs in


class SessionEnded(Exception):
    """The session cookie names a session that expired, was revoked or never existed."""


class NotSignedIn(Exception):
    """A page that needs a session was asked for without one."""


def session_id(secret: str) -> str:
    """Return the key a session is stored under: the SHA-256 of its cookie's secret."""
    return hashlib.sha256(secret.encode("utf-8", "replace")).hexdigest()


@blueprint.before_request
def admit() -> None:
    """Refuse foreign posts, find the visitor, and check the form token of every post."""
    g.new_csrf = g.visitor = None  # (tests run many requests in one app context)
    if request.endpoint == "console.static":
        return
    if request.method not in SAFE:
        check_origin()
        # A form carries the document indented (and twice on review): allow for that.
        limit = FORM_ALLOWANCE * current_app.config["MAX_CONTENT_LENGTH"]
        request.max_content_length = request.max_form_memory_size = limit
    signing_in = request.endpoint == "console.sign_in"
    try:
        g.visitor = current_visitor()
    except SessionEnded:
        if not signing_in:
            raise
        g.visitor = None  # signing in again after a session ended
    if request.method not in SAFE:
        session = g.visitor is not None and not signing_in
        check_csrf(g.visitor.csrf if session else pre_session_token())
    if g.visitor is None and request.endpoint not in OPEN_ENDPOINTS:
        raise NotSignedIn()


def current_visitor() -> Visitor | None:
    """Return the signed-in visitor (None: no session cookie); raise SessionEnded when the
    cookie's session expired or its token is no longer live (revoked, or its row gone)."""
    if not current_app.config["AUTH_ENABLED"]:
        return Visitor(ANONYMOUS, ADMIN, pre_session_token(), None)
    secret = request.cookies.get(SESSION_COOKIE)
    if not secret:
        return None
    key = session_id(secret)
    sessions = ConsoleSessionRepository(get_conn())
    row = sessions.get(key)
    token = None if row is None else live_token(bytes(row["secret_sha256"]), always_look_up=True)
    if row is None or token is None or row["expired"]:
        sessions.delete(key)
        raise SessionEnded()
    touch(token["name"])
    g.actor, g.scope = token["name"], token_scope(token)  # what the API's checks read
    return Visitor(token["name"], token["role"], row["csrf"], key)


def check_again() -> None:
    """Raise SessionEnded if the session ended since the request began (a long wait)."""
    current_visitor()


def may(role: str) -> bool:
    """Tell whether the visitor's role is at least `role`."""
    visitor = g.get("visitor")
    return visitor is not None and RANK[visitor.role] >= RANK[role]


def require(role: str) -> None:
    """Refuse with a 403 page unless the visitor's role is at least `role`."""
    if not may(role):
        have = g.visitor.role if g.get("visitor") else "none"
        raise Forbidden(f"This needs the {role} role; your token has the {have} role.")


def pre_session_token() -> str:
    """Return the form token kept in CSRF_COOKIE, making one (sent by pages.py) if none."""
    token = request.cookies.get(CSRF_COOKIE) or g.get("new_csrf")
    if not token:
        token = g.new_csrf = secrets.token_urlsafe(32)
    return token


def check_csrf(expected: str) -> None:
    """Refuse with 403 unless the form's csrf_token equals the expected one."""
    sent = request.form.get("csrf_token", "")
    if request.mimetype in FORM_TYPES:
        body_read()  # the form parser read it all: the connection may stay open
    same = hmac.compare_digest(sent.encode("utf-8", "replace"), expected.encode())
    if not sent or not same or g.new_csrf:  # a token made just now was never sent
        raise Forbidden(FORM_EXPIRED)


def check_origin() -> None:
    """Refuse with 403 a post whose Origin names another site (or is opaque: `null`)."""
    origin = request.headers.get("Origin")
    if origin is None:
        return
    # The host is compared, not the scheme: behind a proxy that ends TLS, the browser's
    # https origin reaches the service as plain http.
    if _host_of(origin) != request.host.lower():
        raise Forbidden("This form was sent from another site.")


def _host_of(origin: str) -> str | None:
    """Return the host[:port] of an http(s) origin, lower-cased (None: anything else)."""
    if not origin.startswith(("http://", "https://")):
        return None
    try:
        return urlsplit(origin).netloc.lower()
    except ValueError:  # e.g. an unclosed [IPv6 bracket
        return None
