"""Routes of /api/v1/applications."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, current_app, request
from ulid import ULID

from app.api.common import (
    JSON,
    MERGE_PATCH,
    decode_cursor,
    json_body,
    like_prefix,
    page,
    page_query,
)
from app.db import get_conn, transaction
from app.live.listener import NAMES
from app.openapi.builders import body, links, no_content, ok, operation
from app.openapi.components import BODY, PAGE_QUERY, READ, WRITE
from app.repositories.applications import ApplicationRepository
from app.repositories.configurations import ConfigurationRepository
from app.schemas.applications import ApplicationListSchema, ApplicationSchema
from app.schemas.common import NAME_PATTERN, ULID_PATTERN
from app.schemas.configurations import ConfigurationListSchema
from app.web.audit import record, recorded
from app.web.errors import BadRequest, NotFound, found
from app.web.scope import check_application, in_scope, refuse_scoped, scope
from app.web.tokens import READER, WRITER
from app.worker import current_worker

blueprint = Blueprint("applications", __name__)
schema = ApplicationSchema()
list_schema = ApplicationListSchema()
configuration_list_schema = ConfigurationListSchema()
_APP = {"application_id": "$response.body#/id"}
LINKS = {
    **links(_APP, "get_application", "replace_application", "patch_application"),
    **links(_APP, "delete_application", "list_configurations"),
    "CreateConfiguration": {"operationId": "create_configuration", "requestBody": _APP},
}


NO_APPLICATION = "No application has this id or name."


def _visible(row: dict[str, Any] | None) -> dict[str, Any]:
    """Return the application if the request's token may see it, else raise 404."""
    return found(row if row is None or in_scope(row["id"]) else None, NO_APPLICATION)


@blueprint.post("/applications")
@operation(
    WRITER,
    {"201": ok(ApplicationSchema, "Created.", ["Location"], links=LINKS)},
    (*BODY, 409, *WRITE),
    requestBody=body(ApplicationSchema),
)
def create_application():
    """Create an application."""
    refuse_scoped("create applications")
    fields = schema.load(json_body())
    with transaction() as conn:
        row = ApplicationRepository(conn).create(str(ULID()), fields["name"], fields["comments"])
        record(conn, "create", "application", row["id"])
    return schema.dump(row), 201, {"Location": f"{request.path}/{row['id']}"}


@blueprint.get("/applications")
@operation(
    READER,
    {"200": ok(ApplicationListSchema, "A page of applications.")},
    (400, *READ),
    [PAGE_QUERY],
)
def list_applications():
    """List applications in id order, a page at a time."""
    query = page_query()
    after = decode_cursor(query["cursor"], ULID_PATTERN.fullmatch)
    rows = ApplicationRepository(get_conn()).page(
        query["limit"], after, like_prefix(query["name_prefix"]), scope()
    )
    return list_schema.dump(page(rows, query["limit"]))


@blueprint.get("/applications/<ulid:application_id>")
@operation(READER, {"200": ok(ApplicationSchema, "Found.")}, (404, *READ))
def get_application(application_id: str):
    """Answer one application by id."""
    return schema.dump(_visible(ApplicationRepository(get_conn()).get(application_id)))


@blueprint.get("/applications/by-name/<name>")
@operation(READER, {"200": ok(ApplicationSchema, "Found.")}, (404, *READ))
def get_application_by_name(name: str):
    """Answer one application by name."""
    if not NAME_PATTERN.fullmatch(name):  # no such name can exist (and NUL would reach SQL)
        raise NotFound(NO_APPLICATION)
    return schema.dump(_visible(ApplicationRepository(get_conn()).get_by_name(name)))


@blueprint.put("/applications/<ulid:application_id>")
@operation(
    WRITER,
    {"200": ok(ApplicationSchema, "Replaced.")},
    (*BODY, 404, 409, *WRITE),
    requestBody=body(ApplicationSchema),
)
def replace_application(application_id: str):
    """Replace an application's name and comments."""
    return _update(application_id, schema.load(json_body()))


@blueprint.patch("/applications/<ulid:application_id>")
@operation(
    WRITER,
    {"200": ok(ApplicationSchema, "Changed.")},
    (*BODY, 404, 409, *WRITE),
    requestBody=body(ApplicationSchema, JSON, MERGE_PATCH, partial=True),
)
def patch_application(application_id: str):
    """Change some of an application's fields."""
    return _update(application_id, schema.load(json_body(JSON, MERGE_PATCH), partial=True))


def _update(application_id: str, changes: dict[str, Any]):
    check_application(application_id)
    with transaction() as conn:
        repo = ApplicationRepository(conn)
        changed = recorded(conn, "update", "application", repo.update(application_id, changes))
        row = changed or repo.get(application_id)
    current_worker().forget(NAMES)
    return schema.dump(_visible(row))


@blueprint.delete("/applications/<ulid:application_id>")
@operation(WRITER, no_content("Deleted."), (400, 404, 409, *WRITE), ["cascade"])
def delete_application(application_id: str):
    """Delete an application; with ?cascade=true, its configurations too."""
    cascade = request.args.get("cascade", "false")
    if cascade not in ("true", "false"):
        raise BadRequest("Invalid query parameter.", {"cascade": ["Must be true or false."]})
    check_application(application_id)
    with transaction() as conn:
        deleted = ApplicationRepository(conn).delete(application_id, cascade == "true")
        if deleted is None:
            raise NotFound("No application has this id.")
        record(conn, "delete", "application", application_id)
        for configuration in deleted:  # a cascade: one entry per configuration too
            record(conn, "delete", "configuration", configuration["id"], configuration["version"])
    current_worker().forget(NAMES, *(configuration["id"] for configuration in deleted))
    return "", 204


@blueprint.get("/applications/<ulid:application_id>/configurations")
@operation(
    READER,
    {"200": ok(ConfigurationListSchema, "A page of configurations.")},
    (400, 404, *READ),
    [PAGE_QUERY],
)
def list_configurations(application_id: str):
    """List an application's configurations in id order, a page at a time."""
    query = page_query()
    after = decode_cursor(query["cursor"], ULID_PATTERN.fullmatch)
    conn = get_conn()
    check_application(application_id)
    if not ApplicationRepository(conn).exists(application_id):
        raise NotFound("No application has this id.")
    limit, max_bytes = query["limit"], current_app.config["MAX_PAGE_BYTES"]
    rows = ConfigurationRepository(conn).page(
        application_id, limit, after, like_prefix(query["name_prefix"]), max_bytes
    )
    return configuration_list_schema.dump(page(rows, limit, max_bytes=max_bytes))
