"""Routes of /api/v1/configurations and the by-name read path."""

from __future__ import annotations

from typing import Any, NamedTuple

from flask import Blueprint, Response, current_app, request
from marshmallow import ValidationError
from ulid import ULID

from app.api.common import JSON, MERGE_PATCH, json_body
from app.api.conditional import (
    check_if_match,
    client_is_current,
    etag_headers,
    if_match_version,
    watch,
)
from app.audit import new_entry, record, recorded
from app.cache import NAMES, cached, forget_here
from app.db import get_conn, transaction
from app.errors import NotFound, Unprocessable
from app.jsonmerge import merge_patch
from app.repositories.configurations import ConfigurationRepository
from app.schemas.common import NAME_PATTERN, check_json_document
from app.schemas.configurations import (
    ConfigurationPatchSchema,
    ConfigurationReplaceSchema,
    ConfigurationSchema,
)
from app.validation import check_config

blueprint = Blueprint("configurations", __name__)
schema = ConfigurationSchema()
replace_schema = ConfigurationReplaceSchema()
patch_schema = ConfigurationPatchSchema()


class Rendered(NamedTuple):
    """One configuration's answer body, as reads cache it."""

    id: str
    version: int
    body: bytes


def render(row: dict[str, Any]) -> Rendered:
    """Serialize a configuration row once, as the JSON answer body."""
    text = current_app.json.dumps(schema.dump(row), separators=(",", ":"))
    return Rendered(row["id"], row["version"], f"{text}\n".encode())


def found(row: Any) -> Any:
    """Return the row, or raise 404."""
    if row is None:
        raise NotFound("No configuration has this id or name.")
    return row


def answer(row: dict[str, Any] | Rendered, status: int = 200, headers: dict | None = None):
    """Answer one configuration with its ETag, or 304 when the client's copy is current."""
    rendered = row if isinstance(row, Rendered) else render(row)
    headers = {**etag_headers(rendered.version), **(headers or {})}
    if request.method in ("GET", "HEAD") and client_is_current(rendered.version):
        return Response(status=304, headers=headers)
    return Response(rendered.body, status, headers, mimetype="application/json")


def read(key: tuple[str, ...], select: Any, by_name: bool = False) -> Rendered | None:
    """Return the configuration `select` reads, rendered, through the worker's read cache."""

    def load() -> Rendered | None:
        row = select(ConfigurationRepository(get_conn()))
        return None if row is None else render(row)

    def owners(rendered: Rendered) -> tuple[str, ...]:
        return (rendered.id, NAMES) if by_name else (rendered.id,)

    return cached(key, load, owners, lambda rendered: len(rendered.body))


def locked(repo: ConfigurationRepository, configuration_id: str) -> dict[str, Any]:
    """Lock the configuration until the transaction ends, then check If-Match."""
    current = found(repo.get(configuration_id, for_update=True))
    check_if_match(current["version"])
    return current


@blueprint.post("/configurations")
def create_configuration():
    """Create a configuration at version 1."""
    fields = schema.load(json_body())
    with transaction() as conn:
        row = ConfigurationRepository(conn).create(str(ULID()), fields)
        record(conn, "create", "configuration", row["id"], row["version"])
    return answer(row, 201, {"Location": f"{request.path}/{row['id']}"})


@blueprint.get("/configurations/<ulid:configuration_id>")
def get_configuration(configuration_id: str):
    """Answer one configuration by id; with `Prefer: wait`, wait for a change."""

    def lookup():
        return read(("id", configuration_id), lambda repo: repo.get(configuration_id))

    rendered, headers = watch(found(lookup()), lookup)
    return answer(rendered, headers=headers)


@blueprint.get("/applications/by-name/<application_name>/configurations/<name>")
def get_configuration_by_name(application_name: str, name: str):
    """Answer one configuration by application and configuration name (the hot path)."""
    if not (NAME_PATTERN.fullmatch(application_name) and NAME_PATTERN.fullmatch(name)):
        raise NotFound("No configuration has this id or name.")  # and NUL never reaches SQL

    def lookup():
        key = ("name", application_name, name)
        return read(key, lambda repo: repo.get_by_names(application_name, name), by_name=True)

    rendered, headers = watch(found(lookup()), lookup)
    return answer(rendered, headers=headers)


@blueprint.put("/configurations/<ulid:configuration_id>")
def replace_configuration(configuration_id: str):
    """Replace a configuration's name, comments, config and schema."""
    fields = replace_schema.load(json_body())
    application_id = fields.pop("application_id")
    row = _replace_at_once(configuration_id, fields, application_id)
    if row is None:
        with transaction() as conn:
            repo = ConfigurationRepository(conn)
            current = locked(repo, configuration_id)
            if application_id not in (None, current["application_id"]):
                raise Unprocessable(
                    "Request body failed validation.",
                    {"application_id": ["A configuration cannot move to another application."]},
                )
            row = recorded(conn, "update", "configuration", repo.update(configuration_id, fields))
            row = row or current
    forget_here(configuration_id)
    return answer(row)


def _replace_at_once(
    configuration_id: str, fields: dict[str, Any], application_id: str | None
) -> dict[str, Any] | None:
    """Make the usual PUT in one round trip: the configuration is at the version If-Match
    names (or any, without one) and changes. None for anything else, which the locking
    path then tells apart: 404, 412, 422, or a no-op answered with the current version."""
    simple, expected = if_match_version()
    if not simple:
        return None
    repo = ConfigurationRepository(get_conn())  # autocommit: the statement is all or nothing
    return repo.update_at_version(configuration_id, fields, expected, application_id, new_entry())


@blueprint.patch("/configurations/<ulid:configuration_id>")
def patch_configuration(configuration_id: str):
    """Change some fields; `config` is applied as an RFC 7386 JSON Merge Patch."""
    changes = patch_schema.load(json_body(JSON, MERGE_PATCH))
    with transaction() as conn:
        repo = ConfigurationRepository(conn)
        current = locked(repo, configuration_id)
        fields = {key: current[key] for key in ("name", "comments", "config", "schema")}
        fields.update(changes)
        if "config" in changes:
            fields["config"] = merge_patch(current["config"], changes["config"])
            _validate_merged(fields["config"])
        check_config(fields["config"], fields["schema"])  # a new schema checks the current config
        row = recorded(conn, "update", "configuration", repo.update(configuration_id, fields))
        row = row or current
    forget_here(configuration_id)
    return answer(row)


def _validate_merged(config: dict[str, Any]) -> None:
    try:
        check_json_document(config)
    except ValidationError as exc:
        raise ValidationError({"config": exc.messages}) from None


@blueprint.delete("/configurations/<ulid:configuration_id>")
def delete_configuration(configuration_id: str):
    """Delete a configuration and its history."""
    with transaction() as conn:
        repo = ConfigurationRepository(conn)
        current = locked(repo, configuration_id)
        repo.delete(configuration_id)
        record(conn, "delete", "configuration", configuration_id, current["version"])
    forget_here(configuration_id)
    return "", 204
