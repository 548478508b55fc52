"""Routes of a configuration's history: list, one version, restore."""

from __future__ import annotations

import re
from typing import Any

from flask import Blueprint

from app.api.common import decode_cursor, page, page_query
from app.api.conditional import check_if_match
from app.api.v1.configurations import answer, found
from app.audit import recorded
from app.cache import forget_here
from app.db import get_conn, transaction
from app.errors import NotFound
from app.jsondiff import diff
from app.repositories.configurations import ConfigurationRepository
from app.repositories.versions import VersionRepository
from app.schemas.versions import DiffQuerySchema, DiffSchema, VersionListSchema, VersionSchema
from app.validation import check_config

blueprint = Blueprint("versions", __name__)
list_schema = VersionListSchema()
version_schema = VersionSchema()
diff_query_schema = DiffQuerySchema()
diff_schema = DiffSchema()
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
    return list_schema.dump(page(rows, query["limit"], key="version"))


@blueprint.get(f"{BASE}/{VERSION}")
def get_version(configuration_id: str, version: int):
    """Answer one version of a configuration."""
    row = VersionRepository(get_conn()).get(configuration_id, version)
    return version_schema.dump(_version_found(row))


@blueprint.get(f"{BASE}/{VERSION}/diff")
def diff_versions(configuration_id: str, version: int):
    """Answer the JSON Patch from one version's config to another's (`to`, default current)."""
    to = page_query(diff_query_schema)["to"]  # 400 naming `to` when it is not a version number
    conn = get_conn()
    current = found(ConfigurationRepository(conn).get(configuration_id))
    versions = VersionRepository(conn)
    source = _version_found(versions.get(configuration_id, version))
    to = to or current["version"]
    target = _version_found(versions.get(configuration_id, to))
    patch = diff(source["config"], target["config"])
    return diff_schema.dump({"from_": version, "to": to, "patch": patch})


@blueprint.post(f"{BASE}/{VERSION}/restore")
def restore_version(configuration_id: str, version: int):
    """Write a new version whose config and comments equal an old one's (name kept)."""
    with transaction() as conn:
        repo = ConfigurationRepository(conn)
        current = found(repo.get(configuration_id, for_update=True))
        # An unknown version is a 404 whatever If-Match says (RFC 9110 13.2.1).
        old = _version_found(VersionRepository(conn).get(configuration_id, version))
        check_if_match(current["version"])
        check_config(old["config"], current["schema"])  # the schema stays as it is now
        fields = {key: current[key] for key in ("name", "schema")}
        fields.update(comments=old["comments"], config=old["config"])
        row = recorded(conn, "restore", "configuration", repo.update(configuration_id, fields))
        row = row or current
    forget_here(configuration_id)
    return answer(row)
