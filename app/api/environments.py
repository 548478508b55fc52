"""Routes of /api/v1/environments: the names an overlay can be written for."""

from __future__ import annotations

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
from app.db import get_conn, transaction
from app.live.listener import ENVIRONMENTS, overlay_key
from app.openapi.builders import body, no_content, ok, operation
from app.openapi.components import BODY, PAGE_QUERY, READ, WRITE
from app.repositories.environments import EnvironmentRepository
from app.schemas.common import NAME_PATTERN, ULID_PATTERN
from app.schemas.environments import (
    EnvironmentListSchema,
    EnvironmentPatchSchema,
    EnvironmentSchema,
)
from app.web.audit import record
from app.web.errors import BadRequest, NotFound, found
from app.web.scope import refuse_scoped
from app.web.tokens import ADMIN, READER
from app.worker import current_worker

blueprint = Blueprint("environments", __name__)
schema = EnvironmentSchema()
patch_schema = EnvironmentPatchSchema()
list_schema = EnvironmentListSchema()
NO_ENVIRONMENT = "No environment has this name."
CASCADE = {
    "in": "query",
    "name": "cascade",
    "description": "Also delete the overlays written for it (else 409 while any exist).",
    "schema": {"type": "string", "enum": ["true", "false"], "default": "false"},
}


# Reads are registered before writes: OPTIONS, which only lists the methods, takes the
# role of a path's first view (a reader's).
@blueprint.get("/environments")
@operation(
    READER,
    {"200": ok(EnvironmentListSchema, "A page of environments.")},
    (400, *READ),
    [PAGE_QUERY],
)
def list_environments():
    """List environments in id (creation) order, a page at a time."""
    query = page_query()
    after = decode_cursor(query["cursor"], ULID_PATTERN.fullmatch)
    pattern = like_prefix(query["name_prefix"])
    rows = EnvironmentRepository(get_conn()).page(query["limit"], after, pattern)
    return list_schema.dump(page(rows, query["limit"]))


@blueprint.post("/environments")
@operation(
    ADMIN,
    {"201": ok(EnvironmentSchema, "Created.", ["Location"])},
    (*BODY, 409, *WRITE),
    requestBody=body(EnvironmentSchema),
)
def create_environment():
    """Create an environment."""
    refuse_scoped("manage environments")
    fields = schema.load(json_body())
    with transaction() as conn:
        row = EnvironmentRepository(conn).create(str(ULID()), fields["name"], fields["comments"])
        record(conn, "create", "environment", row["id"], environment=row["name"])
    return schema.dump(row), 201, {"Location": f"{request.path}/{row['name']}"}


@blueprint.get("/environments/<name>")
@operation(READER, {"200": ok(EnvironmentSchema, "Found.")}, (404, *READ))
def get_environment(name: str):
    """Answer one environment by name."""
    return schema.dump(found(EnvironmentRepository(get_conn()).get(known(name)), NO_ENVIRONMENT))


@blueprint.patch("/environments/<name>")
@operation(
    ADMIN,
    {"200": ok(EnvironmentSchema, "Changed.")},
    (*BODY, 404, *WRITE),
    requestBody=body(EnvironmentPatchSchema, JSON, MERGE_PATCH),
)
def patch_environment(name: str):
    """Change an environment's comments (its name never changes)."""
    refuse_scoped("manage environments")
    changes = patch_schema.load(json_body(JSON, MERGE_PATCH))
    with transaction() as conn:
        repo = EnvironmentRepository(conn)
        current = found(repo.get(known(name)), NO_ENVIRONMENT)
        changed = None
        if "comments" in changes:
            changed = repo.update_comments(name, changes["comments"])
        if changed is not None:
            record(conn, "update", "environment", changed["id"], environment=name)
    return schema.dump(changed or current)


@blueprint.delete("/environments/<name>")
@operation(ADMIN, no_content("Deleted."), (400, 404, 409, *WRITE), [CASCADE])
def delete_environment(name: str):
    """Delete an environment; with ?cascade=true, the overlays written for it too."""
    refuse_scoped("manage environments")
    cascade = request.args.get("cascade", "false")
    if cascade not in ("true", "false"):
        raise BadRequest("Invalid query parameter.", {"cascade": ["Must be true or false."]})
    known(name)
    with transaction() as conn:
        repo = EnvironmentRepository(conn)
        overlays = repo.delete_overlays(name) if cascade == "true" else []
        row = found(repo.delete(name), NO_ENVIRONMENT)
        record(conn, "delete", "environment", row["id"], environment=name)
        for overlay in overlays:  # one entry per overlay too, as a cascade of an application
            cid, version = overlay["configuration_id"], overlay["version"]
            record(conn, "delete", "overlay", cid, version, environment=name)
    keys = (overlay_key(overlay["configuration_id"], name) for overlay in overlays)
    current_worker().forget(ENVIRONMENTS, *keys)
    return "", 204


def known(name: str) -> str:
    """Return the name, or raise 404 when no environment can have it (NUL never reaches SQL)."""
    if not (len(name) <= 128 and NAME_PATTERN.fullmatch(name)):
        raise NotFound(NO_ENVIRONMENT)
    return name
