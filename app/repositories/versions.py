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
# The bytes a row's documents take as JSON text: what a page's byte cap counts.
_SIZE = "octet_length(v.config::text) + coalesce(octet_length(v.schema::text), 0)"
# A page of versions, newest first, older than a version number: walked one row at a time
# (an index step each) so that the walk stops at `limit` rows or once their documents pass
# `max_bytes`, plus one row to tell whether more follow. No row past that is read or sized.
SELECT_PAGE = f"""
WITH RECURSIVE walk AS (
    (SELECT {_COLUMNS}, {_SIZE} AS size, {_SIZE} AS total, 1 AS n
     FROM configuration_versions v
     WHERE v.configuration_id = %(configuration_id)s
       AND (%(before)s::bigint IS NULL OR v.version < %(before)s)
     ORDER BY v.version DESC LIMIT 1)
    UNION ALL
    SELECT {_COLUMNS}, {_SIZE}, w.total + {_SIZE}, w.n + 1
    FROM walk w CROSS JOIN LATERAL (
        SELECT * FROM configuration_versions v
        WHERE v.configuration_id = %(configuration_id)s AND v.version < w.version
        ORDER BY v.version DESC LIMIT 1
    ) v
    WHERE w.n <= %(limit)s AND (w.n = 1 OR w.total - w.size < %(max_bytes)s)
)
SELECT version, name, comments, config, schema, created_at, size FROM walk ORDER BY n
"""

# A page of versions without their documents, newest first, older than a version number.
SELECT_SUMMARY_PAGE = """
SELECT v.version, v.comments, v.created_at FROM configuration_versions v
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

    def page(
        self, configuration_id: str, limit: int, before: int | None, max_bytes: int
    ) -> list[dict[str, Any]]:
        """Return a page's rows, newest first, and the next one if any (see `common.page`)."""
        params = {"configuration_id": configuration_id, "before": before}
        with self.conn.cursor() as cur:
            cur.execute(SELECT_PAGE, {**params, "limit": limit, "max_bytes": max_bytes})
            return cur.fetchall()

    def summaries(self, configuration_id: str, limit: int, before: int | None) -> list[dict]:
        """Return up to limit+1 versions' numbers, comments and times, newest first."""
        params = {"configuration_id": configuration_id, "before": before, "limit": limit + 1}
        with self.conn.cursor() as cur:
            cur.execute(SELECT_SUMMARY_PAGE, params)
            return cur.fetchall()
