"""Routes of /api/v1/configurations and the by-name read path."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, request
from marshmallow import ValidationError
from ulid import ULID

from app.api.common import JSON, MERGE_PATCH, json_body
from app.api.conditional import check_if_match, client_is_current, etag_headers, watch
from app.audit import record, recorded
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


def found(row: dict[str, Any] | None) -> dict[str, Any]:
    """Return the row, or raise 404."""
    if row is None:
        raise NotFound("No configuration has this id or name.")
    return row


def answer(row: dict[str, Any], status: int = 200, headers: dict[str, str] | None = None):
    """Answer one configuration with its ETag, or 304 when the client's copy is current."""
    headers = {**etag_headers(row["version"]), **(headers or {})}
    if request.method in ("GET", "HEAD") and client_is_current(row["version"]):
        return "", 304, headers
    return schema.dump(row), status, headers


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
        return ConfigurationRepository(get_conn()).get(configuration_id)

    row, headers = watch(found(lookup()), lookup)
    return answer(row, headers=headers)


@blueprint.get("/applications/by-name/<application_name>/configurations/<name>")
def get_configuration_by_name(application_name: str, name: str):
    """Answer one configuration by application and configuration name (the hot path)."""
    if not (NAME_PATTERN.fullmatch(application_name) and NAME_PATTERN.fullmatch(name)):
        raise NotFound("No configuration has this id or name.")  # and NUL never reaches SQL

    def lookup():
        return ConfigurationRepository(get_conn()).get_by_names(application_name, name)

    row, headers = watch(found(lookup()), lookup)
    return answer(row, headers=headers)


@blueprint.put("/configurations/<ulid:configuration_id>")
def replace_configuration(configuration_id: str):
    """Replace a configuration's name, comments, config and schema."""
    fields = ConfigurationReplaceSchema().load(json_body())
    application_id = fields.pop("application_id")
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
    return answer(row)


@blueprint.patch("/configurations/<ulid:configuration_id>")
def patch_configuration(configuration_id: str):
    """Change some fields; `config` is applied as an RFC 7386 JSON Merge Patch."""
    changes = ConfigurationPatchSchema().load(json_body(JSON, MERGE_PATCH))
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
    return "", 204
