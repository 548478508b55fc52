"""Signing in with a token (exchanged for a session cookie) and signing out."""

from __future__ import annotations

import secrets

from flask import Response, current_app, g, request

from app.console import blueprint
from app.console.pages import COOKIE_PATH, page, see_other, set_cookie
from app.console.visitors import SESSION_COOKIE, session_id
from app.db import transaction
from app.repositories.console_sessions import ConsoleSessionRepository
from app.web.auth import failed_attempt, token_for_secret

NOT_VALID = "That token is not valid."
ENDED = "Your session has ended. Sign in again."


@blueprint.get("/")
def index():
    """Show the sign-in form, or go to the applications when signed in."""
    if g.visitor is not None:
        return see_other("console.applications")
    ended = request.args.get("ended") == "1"
    return page("signin.html", message=ENDED if ended else None)


@blueprint.post("/sign-in")
def sign_in():
    """Exchange a valid token for a session cookie; refuse any other as the API does."""
    token = token_for_secret(request.form.get("token", "").strip() or None)
    if token is None:
        wait = failed_attempt(request)
        response = page("signin.html", 429 if wait else 401, message=NOT_VALID)
        if wait:
            response.headers["Retry-After"] = str(wait)
        return response
    secret = secrets.token_urlsafe(32)
    hours = current_app.config["CONSOLE_SESSION_HOURS"]
    with transaction() as conn:
        sessions = ConsoleSessionRepository(conn)
        sessions.delete_expired()
        if g.visitor is not None and g.visitor.session_id:
            sessions.delete(g.visitor.session_id)  # a new sign-in replaces the old session
        sessions.create(session_id(secret), token["name"], secrets.token_urlsafe(32), hours)
    response = see_other("console.applications")
    set_cookie(response, SESSION_COOKIE, secret, max_age=hours * 3600)
    return response


@blueprint.post("/sign-out")
def sign_out() -> Response:
    """End the session and forget its cookie."""
    if g.visitor.session_id is not None:
        with transaction() as conn:
            ConsoleSessionRepository(conn).delete(g.visitor.session_id)
    response = see_other("console.index")
    response.delete_cookie(SESSION_COOKIE, path=COOKIE_PATH)
    return response
