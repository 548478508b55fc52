"""Scoped tokens: what lies outside a token's applications answers as if it did not exist."""

from __future__ import annotations

from flask import g

from app.web.errors import Forbidden, NotFound


def scope() -> list[str] | None:
    """Return the ids of the applications the request's token may see (None: every one)."""
    applications = g.get("scope")
    return None if applications is None else sorted(applications)


def in_scope(application_id: str) -> bool:
    """Tell whether the request's token may see this application."""
    return allows(g.get("scope"), application_id)


def allows(applications: frozenset[str] | None, application_id: str) -> bool:
    """Tell whether a token's scope (None: every application) takes in this application."""
    return applications is None or application_id in applications


def check_application(application_id: str) -> None:
    """Raise 404 for an application outside the token's scope, as for an unknown one."""
    if not in_scope(application_id):
        raise NotFound("No application has this id or name.")


def refuse_scoped(what: str) -> None:
    """Raise 403 if the request's token is scoped: `what` reaches beyond its applications."""
    if g.get("scope") is not None:
        raise Forbidden(f"A token limited to some applications cannot {what}.")
