"""A configuration's history: its versions, a diff of any two, and restoring an old one."""

from __future__ import annotations

from flask import request
from marshmallow import ValidationError

from app.api.versions import restore
from app.console import blueprint
from app.console.browse import PAGE_SIZE, configuration_and_application, paged, whole_number
from app.console.changes import describe
from app.console.checks import flat
from app.console.edit import BASE, base_of
from app.console.pages import page, saved_page
from app.console.visitors import may, require
from app.db import get_conn, transaction
from app.documents.diff import diff
from app.repositories.audit import AuditRepository
from app.repositories.versions import VersionRepository
from app.web.errors import PreconditionFailed, Unprocessable
from app.web.tokens import WRITER
from app.worker import current_worker

VERSION = "<int(min=1, max=2147483647):version>"


def _version_arg(name: str, default: int, newest: int) -> int:
    number = whole_number(request.args.get(name))
    return number if number is not None and 1 <= number <= newest else default


@blueprint.get(f"{BASE}/history")
def history(configuration_id: str):
    """List versions newest first (who saved each, and when) and diff any two of them."""
    row, app = configuration_and_application(configuration_id)
    conn, newest = get_conn(), row["version"]
    versions = VersionRepository(conn)
    after = _version_arg("after", 0, newest) or None
    items, next_after = paged(versions.summaries(configuration_id, PAGE_SIZE, after), "version")
    authors = AuditRepository(conn).authors(configuration_id, [v["version"] for v in items])
    a = _version_arg("a", max(newest - 1, 1), newest)
    b = _version_arg("b", newest, newest)
    old, new = versions.get(configuration_id, a), versions.get(configuration_id, b)
    changes = None
    if old is not None and new is not None:
        changes = describe(diff(old["config"], new["config"]), old["config"])
    return page(
        "history.html", configuration=row, application=app, items=items, authors=authors,
        after=next_after, a=a, b=b, changes=changes, can_restore=may(WRITER),
    )  # fmt: skip


@blueprint.post(f"{BASE}/history/{VERSION}/restore")
def restore_version(configuration_id: str, version: int):
    """Write an old version as the next one, if the version the page showed is current."""
    require(WRITER)
    row, app = configuration_and_application(configuration_id)
    base, _ = base_of(row)
    try:
        with transaction() as conn:
            saved = restore(conn, configuration_id, version, f'"{base}"')
    except PreconditionFailed:
        current, app = configuration_and_application(configuration_id)
        return page("restore_conflict.html", 409, configuration=current, application=app)
    except ValidationError as exc:
        raise Unprocessable(" ".join(flat(exc.messages))) from None
    current_worker().forget(configuration_id)
    return saved_page(configuration_id, saved["version"])
