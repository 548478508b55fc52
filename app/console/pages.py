"""How every console answer looks: pages in the layout, strict headers, HTML errors, and
the way back to sign-in when a session ends."""

from __future__ import annotations

from typing import Any

from flask import Response, current_app, g, redirect, render_template, request, url_for
from markupsafe import Markup

from app.console import PREFIX, blueprint
from app.console.visitors import (
    CSRF_COOKIE,
    SESSION_COOKIE,
    NotSignedIn,
    SessionEnded,
    may,
    pre_session_token,
)
from app.web.throttle import is_trusted
from app.web.tokens import ADMIN

# Nothing inline and nothing from elsewhere: only this service's own files may load.
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
    "connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
)
COOKIE_PATH = f"{PREFIX}/"


def page(template: str, status: int = 200, **context: Any) -> Response:
    """Render a page of the console with the visitor's navigation and form token."""
    visitor = g.get("visitor")
    html = render_template(
        f"console/{template}",
        visitor=visitor,
        is_admin=may(ADMIN),
        csrf_token=visitor.csrf if visitor else pre_session_token(),
        **context,
    )
    return current_app.response_class(html, status, mimetype="text/html")


@blueprint.app_template_filter("text")
def text_content(value: str) -> Markup:
    """Escape text for an element's content: quotes stay as they are there (a large JSON
    document would grow by a fifth with each one written as &#34;)."""
    return Markup(value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;"))


def see_other(endpoint: str, **values: Any) -> Response:
    """Answer 303 to a console page (after a post, the browser fetches it with GET)."""
    return redirect(url_for(endpoint, **values), 303)  # type: ignore[return-value]


def saved_page(configuration_id: str, version: int) -> Response:
    """Answer a save or restore: 303 to the configuration, which then says what was saved."""
    return see_other("console.configuration", configuration_id=configuration_id, saved=version)


def error_page(status: int, title: str, detail: str | None, headers: dict[str, str]) -> Response:
    """Render an error under /console/ as a page of the layout (not a problem document)."""
    response = page("error.html", status, title=title, detail=detail)
    response.headers.update({k: v for k, v in headers.items() if k != "WWW-Authenticate"})
    return response


@blueprint.errorhandler(SessionEnded)
def session_ended(exc: SessionEnded) -> Response:
    """Send the browser back to sign-in, saying why, and forget its cookie. A page's watch
    keeps the cookie: the page's next request is the one that shows why it ended."""
    response = see_other("console.index", ended=1)
    if request.endpoint != "console.watch":
        response.delete_cookie(SESSION_COOKIE, path=COOKIE_PATH)
    return response


@blueprint.errorhandler(NotSignedIn)
def not_signed_in(exc: NotSignedIn) -> Response:
    """Send a visitor without a session to the sign-in form."""
    return see_other("console.index")


def served_over_https() -> bool:
    """Tell whether the browser reached us over HTTPS (directly, or through a trusted proxy)."""
    if request.is_secure:
        return True
    proto = request.headers.get("X-Forwarded-Proto", "").split(",")[0].strip().lower()
    trusted = tuple(current_app.config["TRUSTED_PROXIES"])
    return proto == "https" and is_trusted(request.remote_addr or "", trusted)


def set_cookie(response: Response, name: str, value: str, max_age: int | None = None) -> None:
    """Set a console cookie: never readable by scripts, never sent from another site."""
    response.set_cookie(
        name,
        value,
        max_age=max_age,
        path=COOKIE_PATH,
        secure=served_over_https(),
        httponly=True,
        samesite="Strict",
    )


def secure_headers(response: Response) -> Response:
    """Give every /console/ answer the strict policy; pages are never stored."""
    if not request.path.startswith(COOKIE_PATH):
        return response
    headers = response.headers
    headers["Content-Security-Policy"] = CSP
    headers["Referrer-Policy"] = "same-origin"
    headers["X-Frame-Options"] = "DENY"
    if request.endpoint != "console.static":
        headers["Cache-Control"] = "no-store"
    if g.get("new_csrf"):
        set_cookie(response, CSRF_COOKIE, g.new_csrf)
    return response
