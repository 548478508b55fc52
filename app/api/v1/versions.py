"""Routes of a configuration's history: list, one version, restore."""

from __future__ import annotations

import re
from typing import Any

from flask import Blueprint

from app.api.common import decode_cursor, page, page_query
from app.api.v1.configurations import answer, found, locked
from app.db import get_conn, transaction
from app.errors import NotFound
from app.repositories.configurations import ConfigurationRepository
from app.repositories.versions import VersionRepository
from app.schemas.versions import VersionListSchema, VersionSchema

blueprint = Blueprint("versions", __name__)
VERSION = "<int(min=1, max=2147483647):version>"  # not a positive int32 → 404
_VERSION_CURSOR = re.compile(r"[0-9]{1,12}")
BASE = "/configurations/<ulid:configuration_id>/versions"


def _version_found(row: dict[str, Any] | None) -> dict[str, Any]:
    if row is None:
        raise NotFound("This configuration has no such version.")
    return row


@blueprint.get(BASE)
def list_versions(configuration_id: str):
    """List a configuration's versions, newest first, a page at a time."""
    query = page_query()
    before = decode_cursor(query["cursor"], _VERSION_CURSOR.fullmatch)
    conn = get_conn()
    found(ConfigurationRepository(conn).get(configuration_id))
    rows = VersionRepository(conn).page(
        configuration_id, query["limit"], int(before) if before else None
    )
    return VersionListSchema().dump(page(rows, query["limit"], key="version"))


@blueprint.get(f"{BASE}/{VERSION}")
def get_version(configuration_id: str, version: int):
    """Answer one version of a configuration."""
    row = VersionRepository(get_conn()).get(configuration_id, version)
    return VersionSchema().dump(_version_found(row))


@blueprint.post(f"{BASE}/{VERSION}/restore")
def restore_version(configuration_id: str, version: int):
    """Write a new version whose config and comments equal an old one's (name kept)."""
    with transaction() as conn:
        repo = ConfigurationRepository(conn)
        current = locked(repo, configuration_id)
        old = _version_found(VersionRepository(conn).get(configuration_id, version))
        fields = {"name": current["name"], "comments": old["comments"], "config": old["config"]}
        row = repo.update(configuration_id, fields) or current
    return answer(row)
