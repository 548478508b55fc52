"""Routes of an overlay's history: its versions, newest first, and diffs between them."""

from __future__ import annotations

import re

from flask import Blueprint

from app.api.common import decode_cursor, page, page_query
from app.api.environments import known
from app.api.overlays import NO_OVERLAY, ONE
from app.api.representation import visible
from app.api.versions import VERSION
from app.db import get_conn
from app.documents.diff import diff
from app.openapi.builders import ok, operation
from app.openapi.components import READ, VERSION_PAGE_QUERY
from app.repositories.configurations import ConfigurationRepository
from app.repositories.overlays import OverlayRepository
from app.schemas.environments import OverlayVersionListSchema
from app.schemas.versions import DiffQuerySchema, DiffSchema
from app.web.errors import found
from app.web.tokens import READER

blueprint = Blueprint("overlay_versions", __name__)
versions_schema = OverlayVersionListSchema()
diff_query_schema = DiffQuerySchema()
diff_schema = DiffSchema()
_VERSION_CURSOR = re.compile(r"[0-9]{1,12}")
NO_VERSION = "This overlay has no such version."


@blueprint.get(f"{ONE}/versions")
@operation(
    READER,
    {"200": ok(OverlayVersionListSchema, "A page of versions, newest first.")},
    (400, 404, *READ),
    [VERSION_PAGE_QUERY],
)
def list_overlay_versions(configuration_id: str, environment: str):
    """List an overlay's versions, newest first, a page at a time."""
    query = page_query()
    before = decode_cursor(query["cursor"], _VERSION_CURSOR.fullmatch)
    visible(ConfigurationRepository(get_conn()).get(configuration_id))
    repo = OverlayRepository(get_conn())
    found(repo.get(configuration_id, known(environment)), NO_OVERLAY)
    limit = query["limit"]
    rows = repo.versions(configuration_id, environment, limit, int(before) if before else None)
    return versions_schema.dump(page(rows, limit, key="version"))


@blueprint.get(f"{ONE}/versions/{VERSION}/diff")
@operation(
    READER,
    {"200": ok(DiffSchema, "The JSON Patch from this version's patch to `to`'s.")},
    (400, 404, *READ),
    [{"in": "query", "schema": DiffQuerySchema}],
)
def diff_overlay_versions(configuration_id: str, environment: str, version: int):
    """Answer the JSON Patch from one overlay version's patch to another's (default current)."""
    to = page_query(diff_query_schema)["to"]  # 400 naming `to` when it is not a version number
    visible(ConfigurationRepository(get_conn()).get(configuration_id))
    repo = OverlayRepository(get_conn())
    current = found(repo.get(configuration_id, known(environment)), NO_OVERLAY)
    source = found(repo.version(configuration_id, environment, version), NO_VERSION)
    to = to or current["version"]
    target = found(repo.version(configuration_id, environment, to), NO_VERSION)
    return diff_schema.dump(
        {"from_": version, "to": to, "patch": diff(source["patch"], target["patch"])}
    )
