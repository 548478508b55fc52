"""Editing a configuration: the form, the review of the change, and the save with the
version edited as If-Match (a conflict page when someone saved first)."""

from __future__ import annotations

import json
from typing import Any

from flask import Response, request
from marshmallow import ValidationError

from app.api.writes import FIELDS, locked, save
from app.console import blueprint
from app.console.browse import configuration_and_application, pretty, whole_number
from app.console.changes import describe
from app.console.checks import flat, problems, read_document
from app.console.conflicts import conflict_page
from app.console.forms import fields_of
from app.console.pages import page, saved_page
from app.console.values import apply_values, sent_values, typed_values
from app.console.visitors import require
from app.db import get_conn, transaction
from app.documents.diff import diff, same
from app.repositories.configurations import ConfigurationRepository
from app.repositories.versions import VersionRepository
from app.web.errors import BadRequest, PreconditionFailed
from app.web.tokens import WRITER
from app.worker import current_worker

BASE = "/configurations/<ulid:configuration_id>"
NO_BASE = "The form does not say which version of the configuration it edits."


def base_of(row: dict[str, Any]) -> tuple[int, Any]:
    """Return the version the form edits (its base_version) and that version's document."""
    version = whole_number(request.form.get("base_version")) or 0
    if not 1 <= version <= row["version"]:
        raise BadRequest(NO_BASE)
    if version == row["version"]:
        return version, row["config"]
    old = VersionRepository(get_conn()).get(row["id"], version)
    if old is None:
        raise BadRequest(NO_BASE)
    return version, old["config"]


def edit_page(
    row: dict, app: dict, base: int, raw: str, values: dict, errors: dict | None = None
) -> Response:
    """Render the edit form: generated inputs, raw JSON, and each error at its place."""
    fields = fields_of(row["schema"])
    errors = errors or {}
    places = {field.pointer for field in fields}
    at_fields = {where: " ".join(lines) for where, lines in errors.items() if where in places}
    at_raw = [
        f"{where or '(the whole document)'}: {line}" if where != "raw" else line
        for where, lines in errors.items()
        if where not in places
        for line in lines
    ]
    status = 422 if errors else 200
    return page(
        "edit.html", status, configuration=row, application=app, base_version=base, raw=raw,
        fields=fields, values=values, field_errors=at_fields, raw_errors=at_raw,
    )  # fmt: skip


@blueprint.get(f"{BASE}/edit")
def edit(configuration_id: str):
    """Show the edit form for the current version."""
    require(WRITER)
    row, app = configuration_and_application(configuration_id)
    values = typed_values(row["config"], fields_of(row["schema"]))
    return edit_page(row, app, row["version"], pretty(row["config"]), values)


@blueprint.post(f"{BASE}/review")
def review(configuration_id: str):
    """Check what was sent and show exactly what would change (nothing is written)."""
    require(WRITER)
    row, app = configuration_and_application(configuration_id)
    base, base_document = base_of(row)
    fields = fields_of(row["schema"])
    raw, values = request.form.get("raw", ""), sent_values(request.form, fields)
    document, error = read_document(raw)
    if document is None:
        return edit_page(row, app, base, raw, values, {"raw": [error or ""]})
    if values and same(document, base_document):  # raw untouched: the inputs apply
        document, wrong = apply_values(document, fields, values)
        if wrong:
            return edit_page(row, app, base, raw, values, {k: [v] for k, v in wrong.items()})
        raw = pretty(document)
    found = problems(get_conn(), row, document)
    if found:
        return edit_page(row, app, base, raw, typed_values(document, fields), found)
    return page(
        "review.html", configuration=row, application=app, base_version=base,
        changes=describe(diff(base_document, document), base_document),
        document=json.dumps(document, ensure_ascii=False), newer=row["version"] != base,
    )  # fmt: skip


@blueprint.post(f"{BASE}/edit-again")
def edit_again(configuration_id: str):
    """Show the edit form again with the document that was under review."""
    require(WRITER)
    row, app = configuration_and_application(configuration_id)
    base, _ = base_of(row)
    text = request.form.get("document", "")
    document, _ = read_document(text)
    raw = text if document is None else pretty(document)
    values = typed_values(document, fields_of(row["schema"])) if document is not None else {}
    return edit_page(row, app, base, raw, values)


@blueprint.post(f"{BASE}/save")
def save_document(configuration_id: str):
    """Write the reviewed document as the next version, if the edited one is still current."""
    require(WRITER)
    row, app = configuration_and_application(configuration_id)
    base, _ = base_of(row)
    document, error = read_document(request.form.get("document", ""))
    if document is None:
        return edit_page(row, app, base, request.form.get("document", ""), {}, {"raw": [error]})
    try:
        with transaction() as conn:
            current = locked(ConfigurationRepository(conn), configuration_id, f'"{base}"')
            fields = {key: current[key] for key in FIELDS}
            saved = save(conn, current, {**fields, "config": document})
    except PreconditionFailed:
        return conflict_page(row, app, base, document)
    except ValidationError as exc:
        return edit_page(row, app, base, pretty(document), {}, {"": flat(exc.messages)})
    current_worker().forget(configuration_id)
    return saved_page(configuration_id, saved["version"])
