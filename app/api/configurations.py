"""Routes of /api/v1/configurations and the by-name read path."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, request
from marshmallow import ValidationError
from ulid import ULID

from app.api.common import JSON, MERGE_PATCH, json_body
from app.api.conditional import if_match_version, watch
from app.api.representation import (
    NO_CONFIGURATION,
    answer,
    lookup_by_id,
    lookup_by_names,
    requested_environment,
    visible,
    wake_keys,
)
from app.api.writes import FIELDS, checked, locked, save
from app.db import get_conn, transaction
from app.documents.merge import merge_patch
from app.openapi.builders import ETAG, body, links, no_content, ok, operation
from app.openapi.components import BODY, READ, WRITE
from app.repositories import MissingReference
from app.repositories.configurations import ConfigurationRepository
from app.schemas.common import NAME_PATTERN, check_json_document
from app.schemas.configurations import (
    ConfigurationPatchSchema,
    ConfigurationReplaceSchema,
    ConfigurationSchema,
)
from app.schemas.environments import ResolvedConfigurationSchema
from app.web.audit import new_entry, record
from app.web.errors import NotFound, Unprocessable
from app.web.scope import in_scope, scope
from app.web.tokens import READER, WRITER
from app.worker import current_worker

blueprint = Blueprint("configurations", __name__)
schema = ConfigurationSchema()
replace_schema = ConfigurationReplaceSchema()
patch_schema = ConfigurationPatchSchema()
_CONF = {"configuration_id": "$response.body#/id"}
LINKS = {
    **links(_CONF, "get_configuration", "replace_configuration", "patch_configuration"),
    **links(_CONF, "delete_configuration", "list_versions"),
    **links({**_CONF, "version": "$response.body#/version"}, "get_version", "restore_version"),
}
ONE = {
    "200": ok(
        ResolvedConfigurationSchema,
        "The configuration (`environment` and `overlay_version` only with ?environment).",
        [*ETAG, "Preference-Applied"],
    ),
    "304": "NotModified",
}
WATCH = ["If-None-Match", "Prefer", "environment"]


@blueprint.post("/configurations")
@operation(
    WRITER,
    {"201": ok(ConfigurationSchema, "Created.", ["Location", *ETAG], links=LINKS)},
    (*BODY, 409, *WRITE),
    requestBody=body(ConfigurationSchema),
)
def create_configuration():
    """Create a configuration at version 1."""
    fields = checked(schema.load(json_body()))
    if not in_scope(fields["application_id"]):  # as if it did not exist
        raise MissingReference("application_id", "No application has this id.")
    with transaction() as conn:
        row = ConfigurationRepository(conn).create(str(ULID()), fields)
        record(conn, "create", "configuration", row["id"], row["version"])
    return answer(row, 201, {"Location": f"{request.path}/{row['id']}"})


@blueprint.get("/configurations/<ulid:configuration_id>")
@operation(READER, ONE, (404, *READ), WATCH)
def get_configuration(configuration_id: str):
    """Answer one configuration by id (?environment: resolved); `Prefer: wait` waits."""
    environment = requested_environment()
    lookup = lookup_by_id(configuration_id, environment)
    current = visible(lookup(), environment)
    rendered, headers = watch(current, lookup, wake_keys(configuration_id, environment))
    return answer(rendered, headers=headers)


@blueprint.get("/applications/by-name/<application_name>/configurations/<name>")
@operation(READER, ONE, (404, *READ), WATCH)
def get_configuration_by_name(application_name: str, name: str):
    """Answer one configuration by application and configuration name (the hot path)."""
    if not (NAME_PATTERN.fullmatch(application_name) and NAME_PATTERN.fullmatch(name)):
        raise NotFound(NO_CONFIGURATION)  # and NUL never reaches SQL
    environment = requested_environment()
    lookup = lookup_by_names(application_name, name, environment)
    current = visible(lookup(), environment)
    rendered, headers = watch(current, lookup, wake_keys(current.id, environment))
    return answer(rendered, headers=headers)


@blueprint.put("/configurations/<ulid:configuration_id>")
@operation(
    WRITER,
    {"200": ok(ConfigurationSchema, "Replaced.", ETAG)},
    (*BODY, 404, 409, 412, *WRITE),
    ["If-Match"],
    requestBody=body(ConfigurationReplaceSchema),
)
def replace_configuration(configuration_id: str):
    """Replace a configuration's name, comments, config and schema.

    PUT has two paths. The usual request (no If-Match, `*`, or one strong tag) is written in
    one statement, in one round trip, with its audit entry. Anything that statement does not
    write (no such configuration, another version, another application, a list of tags, a
    schema, or a write that changes nothing) takes the locking path, which tells those cases
    apart and checks the schema against every environment too.
    """
    fields = checked(replace_schema.load(json_body()))
    application_id = fields.pop("application_id")
    row = _replace_at_once(configuration_id, fields, application_id)
    if row is None:
        with transaction() as conn:
            current = locked(ConfigurationRepository(conn), configuration_id)
            if application_id not in (None, current["application_id"]):
                raise Unprocessable(
                    "Request body failed validation.",
                    {"application_id": ["A configuration cannot move to another application."]},
                )
            row = save(conn, current, fields)
    current_worker().forget(configuration_id)
    return answer(row)


def _replace_at_once(
    configuration_id: str, fields: dict[str, Any], application_id: str | None
) -> dict[str, Any] | None:
    """Write the usual PUT in one statement, or return None for the locking path."""
    simple, expected = if_match_version()
    if not simple or scope() is not None:  # a scoped token's write checks the row first
        return None
    repo = ConfigurationRepository(get_conn())  # autocommit: the statement is all or nothing
    return repo.update_at_version(configuration_id, fields, expected, application_id, new_entry())


@blueprint.patch("/configurations/<ulid:configuration_id>")
@operation(
    WRITER,
    {"200": ok(ConfigurationSchema, "Changed.", ETAG)},
    (*BODY, 404, 409, 412, *WRITE),
    ["If-Match"],
    requestBody=body(ConfigurationPatchSchema, JSON, MERGE_PATCH),
)
def patch_configuration(configuration_id: str):
    """Change some fields; `config` is applied as an RFC 7386 JSON Merge Patch."""
    changes = patch_schema.load(json_body(JSON, MERGE_PATCH))
    with transaction() as conn:
        current = locked(ConfigurationRepository(conn), configuration_id)
        fields = {key: current[key] for key in FIELDS}
        fields.update(changes)
        if "config" in changes:
            fields["config"] = _merged(current["config"], changes["config"])
        row = save(conn, current, fields)  # a new schema checks the current config too
    current_worker().forget(configuration_id)
    return answer(row)


def _merged(config: dict[str, Any], patch: dict[str, Any]) -> dict[str, Any]:
    """Apply a merge patch; the result obeys the same depth and text rules as a config."""
    merged = merge_patch(config, patch)
    try:
        check_json_document(merged)
    except ValidationError as exc:
        raise ValidationError({"config": exc.messages}) from None
    return merged


@blueprint.delete("/configurations/<ulid:configuration_id>")
@operation(WRITER, no_content("Deleted, with its history."), (404, 412, *WRITE), ["If-Match"])
def delete_configuration(configuration_id: str):
    """Delete a configuration and its history."""
    with transaction() as conn:
        repo = ConfigurationRepository(conn)
        current = locked(repo, configuration_id)
        repo.delete(configuration_id)
        record(conn, "delete", "configuration", configuration_id, current["version"])
    current_worker().forget(configuration_id)
    return "", 204
