"""Pages to read: applications, their configurations, one configuration, its schema and
environments, and the audit log."""

from __future__ import annotations

import json
import re
from typing import Any

from flask import request

from app.api.common import like_prefix
from app.api.representation import visible
from app.console import blueprint
from app.console.layers import resolved_environments
from app.console.pages import page
from app.console.visitors import may, require
from app.db import get_conn
from app.repositories.applications import ApplicationRepository
from app.repositories.audit import AuditRepository
from app.repositories.configurations import ConfigurationRepository
from app.schemas.common import ULID_PATTERN
from app.web.errors import BadRequest, found
from app.web.scope import check_application, refuse_scoped, scope
from app.web.tokens import ADMIN, WRITER

PAGE_SIZE = 50
MAX_PREFIX = 128
_NUMBER = re.compile(r"[0-9]{1,9}")  # str.isdigit() also takes "²", which int() refuses
NO_APPLICATION = "No application has this id or name."


def whole_number(text: str | None) -> int | None:
    """Return a version number written in ASCII digits (at most nine), else None."""
    return int(text) if text is not None and _NUMBER.fullmatch(text) else None


def after_key() -> str | None:
    """Return ?after= (the last id of the previous page), or 400 when it is not an id."""
    after = request.args.get("after") or None
    if after is not None and not ULID_PATTERN.fullmatch(after):
        raise BadRequest("The page asked for does not exist: ?after= must be an id.")
    return after


def paged(rows: list[dict[str, Any]], key: str = "id") -> tuple[list[dict[str, Any]], Any]:
    """Split the rows fetched (one beyond a page) into the page and the next page's key."""
    items = rows[:PAGE_SIZE]
    return items, items[-1][key] if len(rows) > PAGE_SIZE else None


def pretty(document: Any) -> str:
    """Return a JSON document as people read it: indented by two, text left as is."""
    return json.dumps(document, indent=2, ensure_ascii=False)


@blueprint.get("/applications")
def applications():
    """List the applications the token may see, by name prefix, a page at a time."""
    prefix = request.args.get("prefix", "")[:MAX_PREFIX]
    if "\x00" in prefix:  # PostgreSQL text cannot hold it, and no name has it
        raise BadRequest("A name never contains the NUL character.")
    repo = ApplicationRepository(get_conn())
    rows = repo.names_page(PAGE_SIZE, after_key(), like_prefix(prefix), scope())
    items, after = paged(rows)
    return page("applications.html", items=items, after=after, prefix=prefix)


@blueprint.get("/applications/<ulid:application_id>")
def application(application_id: str):
    """List an application's configurations, a page at a time."""
    check_application(application_id)
    conn = get_conn()
    app = found(ApplicationRepository(conn).name_of(application_id), NO_APPLICATION)
    rows = ConfigurationRepository(conn).summaries(application_id, PAGE_SIZE, after_key())
    items, after = paged(rows)
    return page("application.html", application=app, items=items, after=after)


def configuration_and_application(configuration_id: str) -> tuple[dict, dict]:
    """Return a configuration the token may see, and its application (else 404)."""
    conn = get_conn()
    row = visible(ConfigurationRepository(conn).get(configuration_id))
    app = ApplicationRepository(conn).name_of(row["application_id"])
    return row, app or {"id": row["application_id"], "name": row["application_id"]}


@blueprint.get("/configurations/<ulid:configuration_id>")
def configuration(configuration_id: str):
    """Show a configuration's current document, and a saved version's note after a save."""
    row, app = configuration_and_application(configuration_id)
    saved = whole_number(request.args.get("saved"))
    shown = saved is not None and 1 <= saved <= row["version"]
    return page(
        "configuration.html",
        configuration=row,
        application=app,
        document=pretty(row["config"]),
        saved=saved if shown else None,
        can_edit=may(WRITER),
    )


@blueprint.get("/configurations/<ulid:configuration_id>/schema")
def schema(configuration_id: str):
    """Show the JSON Schema a configuration's document must satisfy."""
    row, app = configuration_and_application(configuration_id)
    text = None if row["schema"] is None else pretty(row["schema"])
    return page("schema.html", configuration=row, application=app, schema=text)


@blueprint.get("/configurations/<ulid:configuration_id>/environments")
def environments(configuration_id: str):
    """Show the document each environment resolves to, and which layer set each value."""
    row, app = configuration_and_application(configuration_id)
    sections = resolved_environments(get_conn(), row)
    return page("environments.html", configuration=row, application=app, sections=sections)


@blueprint.get("/audit")
def audit():
    """List the audit log, newest first, a page at a time (admins only)."""
    require(ADMIN)
    refuse_scoped("read the audit log: it spans every application")
    rows = AuditRepository(get_conn()).page(PAGE_SIZE, after_key(), {})
    items, after = paged(rows)
    return page("audit.html", items=items, after=after)
