"""SQL for the version history of configurations."""

from __future__ import annotations

from typing import Any

from app.repositories import Repository

_COLUMNS = "v.version, v.name, v.comments, v.config, v.schema, v.created_at"

# One version of a configuration.
SELECT_ONE = f"""
SELECT {_COLUMNS} FROM configuration_versions v
WHERE v.configuration_id = %(configuration_id)s AND v.version = %(version)s
"""
# A page of versions, newest first, older than a version number.
SELECT_PAGE = f"""
SELECT {_COLUMNS} FROM configuration_versions v
WHERE v.configuration_id = %(configuration_id)s
  AND (%(before)s::bigint IS NULL OR v.version < %(before)s)
ORDER BY v.version DESC LIMIT %(limit)s
"""


class VersionRepository(Repository):
    """Reads configuration versions on one connection (the trigger writes them)."""

    def get(self, configuration_id: str, version: int) -> dict[str, Any] | None:
        with self.conn.cursor() as cur:
            cur.execute(SELECT_ONE, {"configuration_id": configuration_id, "version": version})
            return cur.fetchone()

    def page(self, configuration_id: str, limit: int, before: int | None) -> list[dict[str, Any]]:
        """Return up to limit+1 rows, newest first, so the caller knows if more follow."""
        params = {"configuration_id": configuration_id, "before": before, "limit": limit + 1}
        with self.conn.cursor() as cur:
            cur.execute(SELECT_PAGE, params)
            return cur.fetchall()
