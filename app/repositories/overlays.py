"""SQL for overlays: per configuration and environment, a merge patch over the base config."""

from __future__ import annotations

from typing import Any

from psycopg2.extras import Json

from app.repositories import Repository
from app.repositories.configurations import _COLUMNS as CONFIGURATION_COLUMNS

_COLUMNS = """
    o.configuration_id, o.environment, o.patch, o.comments, o.version, o.created_at,
    o.updated_at
"""
# What a resolved read needs: the base, and the environment's overlay (NULLs when none).
_RESOLVED = f"""
SELECT {CONFIGURATION_COLUMNS}, e.name AS environment, o.patch,
       coalesce(o.version, 0) AS overlay_version
FROM configurations c CROSS JOIN environments e
LEFT JOIN overlays o ON o.configuration_id = c.id AND o.environment = e.name
"""
# One configuration by id resolved for an environment; no row if either is unknown.
RESOLVE_BY_ID = f"{_RESOLVED} WHERE c.id = %(id)s AND e.name = %(environment)s"
# One configuration by names resolved for an environment; no row if any is unknown.
RESOLVE_BY_NAMES = f"""
{_RESOLVED} JOIN applications a ON a.id = c.application_id
WHERE a.name = %(application_name)s AND c.name = %(name)s AND e.name = %(environment)s
"""
# One overlay.
SELECT_ONE = f"""
SELECT {_COLUMNS} FROM overlays o
WHERE o.configuration_id = %(configuration_id)s AND o.environment = %(environment)s
"""
# Every overlay's patch of a configuration, by environment name (to check a schema).
SELECT_PATCHES = """
SELECT o.environment, o.patch FROM overlays o WHERE o.configuration_id = %(configuration_id)s
ORDER BY o.environment
"""
# A page of a configuration's overlays in environment name order, after a name.
SELECT_PAGE = f"""
SELECT {_COLUMNS} FROM overlays o
WHERE o.configuration_id = %(configuration_id)s
  AND (%(after)s::text IS NULL OR o.environment > %(after)s)
ORDER BY o.environment LIMIT %(limit)s
"""
# Create an overlay; its numbering continues any earlier life's history.
INSERT = f"""
INSERT INTO overlays AS o (configuration_id, environment, patch, comments, version)
VALUES (%(configuration_id)s, %(environment)s, %(patch)s, %(comments)s, 1 + coalesce(
    (SELECT max(v.version) FROM overlay_versions v
     WHERE v.configuration_id = %(configuration_id)s AND v.environment = %(environment)s), 0))
RETURNING {_COLUMNS}
"""
# Write new patch and comments as the next version; no row when nothing would change.
UPDATE = f"""
UPDATE overlays AS o SET patch = %(patch)s, comments = %(comments)s, version = o.version + 1,
    updated_at = now()
WHERE o.configuration_id = %(configuration_id)s AND o.environment = %(environment)s
  AND (o.patch, o.comments) IS DISTINCT FROM (%(patch)s::jsonb, %(comments)s::text)
RETURNING {_COLUMNS}
"""
# Delete an overlay (its history stays, see migration 0008).
DELETE = f"""
DELETE FROM overlays o
WHERE o.configuration_id = %(configuration_id)s AND o.environment = %(environment)s
RETURNING {_COLUMNS}
"""
# One version of an overlay.
SELECT_VERSION = """
SELECT v.version, v.patch, v.comments, v.created_at FROM overlay_versions v
WHERE v.configuration_id = %(configuration_id)s AND v.environment = %(environment)s
  AND v.version = %(version)s
"""
# A page of an overlay's versions, newest first, older than a version number.
SELECT_VERSIONS = """
SELECT v.version, v.patch, v.comments, v.created_at FROM overlay_versions v
WHERE v.configuration_id = %(configuration_id)s AND v.environment = %(environment)s
  AND (%(before)s::bigint IS NULL OR v.version < %(before)s)
ORDER BY v.version DESC LIMIT %(limit)s
"""


class OverlayRepository(Repository):
    """Reads and writes overlays on one connection."""

    def resolve(self, id: str, environment: str) -> dict[str, Any] | None:
        return self._one(RESOLVE_BY_ID, {"id": id, "environment": environment})

    def resolve_by_names(
        self, application_name: str, name: str, environment: str
    ) -> dict[str, Any] | None:
        params = {"application_name": application_name, "name": name, "environment": environment}
        return self._one(RESOLVE_BY_NAMES, params)

    def get(self, configuration_id: str, environment: str) -> dict[str, Any] | None:
        return self._one(SELECT_ONE, _key(configuration_id, environment))

    def patches(self, configuration_id: str) -> dict[str, dict[str, Any]]:
        """Map each environment with an overlay on the configuration to its patch."""
        with self.conn.cursor() as cur:
            cur.execute(SELECT_PATCHES, {"configuration_id": configuration_id})
            return {row["environment"]: row["patch"] for row in cur.fetchall()}

    def page(self, configuration_id: str, limit: int, after: str | None) -> list[dict[str, Any]]:
        """Return up to limit+1 rows in environment order, so the caller knows if more follow."""
        params = {"configuration_id": configuration_id, "after": after, "limit": limit + 1}
        with self.conn.cursor() as cur:
            cur.execute(SELECT_PAGE, params)
            return cur.fetchall()

    def create(self, configuration_id: str, environment: str, fields: dict[str, Any]):
        params = {**_key(configuration_id, environment), **_values(fields)}
        return self._row(INSERT, params)

    def update(
        self, configuration_id: str, environment: str, fields: dict[str, Any]
    ) -> dict[str, Any] | None:
        """Write the next version; None when patch and comments equal the current ones."""
        return self._one(UPDATE, {**_key(configuration_id, environment), **_values(fields)})

    def delete(self, configuration_id: str, environment: str) -> dict[str, Any] | None:
        return self._one(DELETE, _key(configuration_id, environment))

    def version(self, configuration_id: str, environment: str, version: int):
        return self._one(
            SELECT_VERSION, {**_key(configuration_id, environment), "version": version}
        )

    def versions(
        self, configuration_id: str, environment: str, limit: int, before: int | None
    ) -> list[dict[str, Any]]:
        """Return up to limit+1 versions, newest first, so the caller knows if more follow."""
        params = {**_key(configuration_id, environment), "before": before, "limit": limit + 1}
        with self.conn.cursor() as cur:
            cur.execute(SELECT_VERSIONS, params)
            return cur.fetchall()


def _key(configuration_id: str, environment: str) -> dict[str, str]:
    return {"configuration_id": configuration_id, "environment": environment}


def _values(fields: dict[str, Any]) -> dict[str, Any]:
    return {"patch": Json(fields["patch"]), "comments": fields.get("comments")}
