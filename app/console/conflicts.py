"""When someone saved first: both changes side by side, nothing typed lost, and the user's
changes carried onto the new version when the two touch different places."""

from __future__ import annotations

from typing import Any

from flask import Response

from app.console.browse import configuration_and_application, pretty
from app.console.changes import describe
from app.console.pages import page
from app.db import get_conn
from app.documents.diff import diff
from app.documents.rebase import PatchConflict, apply, overlap
from app.repositories.versions import VersionRepository


def conflict_page(row: dict[str, Any], app: dict[str, Any], base: int, mine: Any) -> Response:
    """Render (409) the changes made since `base` by others and by this user."""
    current, app = configuration_and_application(row["id"])
    old = VersionRepository(get_conn()).get(row["id"], base)
    base_document = old["config"] if old is not None else current["config"]
    theirs, yours = diff(base_document, current["config"]), diff(base_document, mine)
    common = overlap(theirs, yours, base_document)
    rebased = None
    if not common:
        try:
            rebased = pretty(apply(current["config"], yours))
        except PatchConflict:
            common = ["(the whole document)"]
    return page(
        "conflict.html", 409, configuration=current, application=app,
        theirs=describe(theirs, base_document), mine=describe(yours, base_document),
        overlap=common, rebased=rebased, raw=pretty(mine), raw_errors=[],
    )  # fmt: skip
