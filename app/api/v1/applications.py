"""Routes of /api/v1/applications."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, request
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
from app.audit import record, recorded
from app.cache import NAMES, forget_here
from app.db import get_conn, transaction
from app.errors import BadRequest, NotFound
from app.repositories.applications import ApplicationRepository
from app.repositories.configurations import ConfigurationRepository
from app.schemas.applications import ApplicationListSchema, ApplicationSchema
from app.schemas.common import NAME_PATTERN, ULID_PATTERN
from app.schemas.configurations import ConfigurationListSchema

blueprint = Blueprint("applications", __name__)
schema = ApplicationSchema()
list_schema = ApplicationListSchema()
configuration_list_schema = ConfigurationListSchema()


def _found(row: dict[str, Any] | None) -> dict[str, Any]:
    if row is None:
        raise NotFound("No application has this id or name.")
    return row


@blueprint.post("/applications")
def create_application():
    """Create an application."""
    fields = schema.load(json_body())
    with transaction() as conn:
        row = ApplicationRepository(conn).create(str(ULID()), fields["name"], fields["comments"])
        record(conn, "create", "application", row["id"])
    return schema.dump(row), 201, {"Location": f"{request.path}/{row['id']}"}


@blueprint.get("/applications")
def list_applications():
    """List applications in id order, a page at a time."""
    query = page_query()
    after = decode_cursor(query["cursor"], ULID_PATTERN.fullmatch)
    rows = ApplicationRepository(get_conn()).page(
        query["limit"], after, like_prefix(query["name_prefix"])
    )
    return list_schema.dump(page(rows, query["limit"]))


@blueprint.get("/applications/<ulid:application_id>")
def get_application(application_id: str):
    """Answer one application by id."""
    return schema.dump(_found(ApplicationRepository(get_conn()).get(application_id)))


@blueprint.get("/applications/by-name/<name>")
def get_application_by_name(name: str):
    """Answer one application by name."""
    if not NAME_PATTERN.fullmatch(name):  # no such name can exist (and NUL would reach SQL)
        raise NotFound("No application has this id or name.")
    return schema.dump(_found(ApplicationRepository(get_conn()).get_by_name(name)))


@blueprint.put("/applications/<ulid:application_id>")
def replace_application(application_id: str):
    """Replace an application's name and comments."""
    return _update(application_id, schema.load(json_body()))


@blueprint.patch("/applications/<ulid:application_id>")
def patch_application(application_id: str):
    """Change some of an application's fields."""
    return _update(application_id, schema.load(json_body(JSON, MERGE_PATCH), partial=True))


def _update(application_id: str, changes: dict[str, Any]):
    with transaction() as conn:
        repo = ApplicationRepository(conn)
        changed = recorded(conn, "update", "application", repo.update(application_id, changes))
        row = changed or repo.get(application_id)
    forget_here(NAMES)
    return schema.dump(_found(row))


@blueprint.delete("/applications/<ulid:application_id>")
def delete_application(application_id: str):
    """Delete an application; with ?cascade=true, its configurations too."""
    cascade = request.args.get("cascade", "false")
    if cascade not in ("true", "false"):
        raise BadRequest("Invalid query parameter.", {"cascade": ["Must be true or false."]})
    with transaction() as conn:
        deleted = ApplicationRepository(conn).delete(application_id, cascade == "true")
        if deleted is None:
            raise NotFound("No application has this id.")
        record(conn, "delete", "application", application_id)
        for configuration in deleted:  # a cascade: one entry per configuration too
            record(conn, "delete", "configuration", configuration["id"], configuration["version"])
    forget_here(NAMES, *(configuration["id"] for configuration in deleted))
    return "", 204


@blueprint.get("/applications/<ulid:application_id>/configurations")
def list_configurations(application_id: str):
    """List an application's configurations in id order, a page at a time."""
    query = page_query()
    after = decode_cursor(query["cursor"], ULID_PATTERN.fullmatch)
    conn = get_conn()
    if not ApplicationRepository(conn).exists(application_id):
        raise NotFound("No application has this id.")
    rows = ConfigurationRepository(conn).page(
        application_id, query["limit"], after, like_prefix(query["name_prefix"])
    )
    return configuration_list_schema.dump(page(rows, query["limit"]))
