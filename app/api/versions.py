"""Routes of a configuration's history: list, one version, restore."""

from __future__ import annotations

import re
from typing import Any

from flask import Blueprint, current_app

from app.api.common import decode_cursor, page, page_query
from app.api.conditional import check_if_match
from app.api.representation import answer, visible
from app.api.writes import save
from app.db import get_conn, transaction
from app.documents.diff import diff
from app.openapi.builders import ETAG, ok, operation
from app.openapi.components import READ, VERSION_PAGE_QUERY, WRITE
from app.repositories.configurations import ConfigurationRepository
from app.repositories.versions import VersionRepository
from app.schemas.configurations import ConfigurationSchema
from app.schemas.versions import DiffQuerySchema, DiffSchema, VersionListSchema, VersionSchema
from app.web.errors import found
from app.web.scope import scope
from app.web.tokens import READER, WRITER
from app.worker import current_worker

blueprint = Blueprint("versions", __name__)
list_schema = VersionListSchema()
version_schema = VersionSchema()
diff_query_schema = DiffQuerySchema()
diff_schema = DiffSchema()
VERSION = "<int(min=1, max=2147483647):version>"  # not a positive int32 → 404
_VERSION_CURSOR = re.compile(r"[0-9]{1,12}")
BASE = "/configurations/<ulid:configuration_id>/versions"


NO_VERSION = "This configuration has no such version."


@blueprint.get(BASE)
@operation(
    READER,
    {"200": ok(VersionListSchema, "A page of versions, newest first.")},
    (400, 404, *READ),
    [VERSION_PAGE_QUERY],
)
def list_versions(configuration_id: str):
    """List a configuration's versions, newest first, a page at a time."""
    query = page_query()
    before = decode_cursor(query["cursor"], _VERSION_CURSOR.fullmatch)
    conn = get_conn()
    visible(ConfigurationRepository(conn).get(configuration_id))
    limit, max_bytes = query["limit"], current_app.config["MAX_PAGE_BYTES"]
    rows = VersionRepository(conn).page(
        configuration_id, limit, int(before) if before else None, max_bytes
    )
    return list_schema.dump(page(rows, limit, key="version", max_bytes=max_bytes))


@blueprint.get(f"{BASE}/{VERSION}")
@operation(READER, {"200": ok(VersionSchema, "Found.")}, (404, *READ))
def get_version(configuration_id: str, version: int):
    """Answer one version of a configuration."""
    conn = get_conn()
    if scope() is not None:  # the version does not say whose it is: its configuration does
        visible(ConfigurationRepository(conn).get(configuration_id))
    row = VersionRepository(conn).get(configuration_id, version)
    return version_schema.dump(found(row, NO_VERSION))


@blueprint.get(f"{BASE}/{VERSION}/diff")
@operation(
    READER,
    {"200": ok(DiffSchema, "The JSON Patch from this version's config to `to`'s.")},
    (400, 404, *READ),
    [{"in": "query", "schema": DiffQuerySchema}],
)
def diff_versions(configuration_id: str, version: int):
    """Answer the JSON Patch from one version's config to another's (`to`, default current)."""
    to = page_query(diff_query_schema)["to"]  # 400 naming `to` when it is not a version number
    conn = get_conn()
    current = visible(ConfigurationRepository(conn).get(configuration_id))
    versions = VersionRepository(conn)
    source = found(versions.get(configuration_id, version), NO_VERSION)
    to = to or current["version"]
    target = found(versions.get(configuration_id, to), NO_VERSION)
    patch = diff(source["config"], target["config"])
    return diff_schema.dump({"from_": version, "to": to, "patch": patch})


@blueprint.post(f"{BASE}/{VERSION}/restore")
@operation(
    WRITER,
    {"200": ok(ConfigurationSchema, "The configuration after the restore.", ETAG)},
    (404, 412, 422, *WRITE),  # 422: the old config does not satisfy the current schema
    ["If-Match"],
)
def restore_version(configuration_id: str, version: int):
    """Write a new version whose config and comments equal an old one's (name kept)."""
    with transaction() as conn:
        row = restore(conn, configuration_id, version)
    current_worker().forget(configuration_id)
    return answer(row)


def restore(
    conn: Any, configuration_id: str, version: int, if_match: str | None = None
) -> dict[str, Any]:
    """Write an old version's config and comments as the next version, in the caller's
    transaction, if If-Match (the request's, or `if_match`) names the current one."""
    repo = ConfigurationRepository(conn)
    current = visible(repo.get(configuration_id, for_update=True))
    # An unknown version is a 404 whatever If-Match says (RFC 9110 13.2.1).
    old = found(VersionRepository(conn).get(configuration_id, version), NO_VERSION)
    check_if_match(current["version"], if_match)
    fields = {key: current[key] for key in ("name", "schema")}  # the schema stays as now
    fields.update(comments=old["comments"], config=old["config"])
    return save(conn, current, fields, "restore")
