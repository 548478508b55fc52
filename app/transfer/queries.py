"""SQL for `flask export` and `flask import`."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from psycopg2.extras import RealDictCursor

from app.repositories import Repository

# Every application with each of its configurations (one row with NULLs when it has none),
# in name order; config, schema and patches as jsonb text, which the export copies as it
# is; overlays as [[environment, patch, comments], ...] in environment name order.
SELECT_EVERYTHING = """
SELECT a.name AS application_name, a.comments AS application_comments,
       c.name, c.comments, c.config::text AS config, c.schema::text AS schema,
       (SELECT json_agg(json_build_array(o.environment, o.patch::text, o.comments)
                        ORDER BY o.environment)
        FROM overlays o WHERE o.configuration_id = c.id) AS overlays
FROM applications a LEFT JOIN configurations c ON c.application_id = a.id
ORDER BY a.name, c.name
"""
# Every environment in name order.
SELECT_ENVIRONMENTS = "SELECT e.name, e.comments FROM environments e ORDER BY e.name"
# One application's id and comments by name (without its configuration ids).
SELECT_APPLICATION = "SELECT a.id, a.comments FROM applications a WHERE a.name = %(name)s"
# The ids of an application's configurations, with their names.
SELECT_CONFIGURATION_IDS = """
SELECT c.name, c.id FROM configurations c WHERE c.application_id = %(application_id)s
"""


class TransferRepository(Repository):
    """Reads for export and import on one connection (writes go through the others)."""

    def everything(self, itersize: int = 2000) -> Iterator[dict[str, Any]]:
        """Yield every row of SELECT_EVERYTHING through a server-side cursor (in a transaction)."""
        with self.conn.cursor(name="export", cursor_factory=RealDictCursor) as cur:
            cur.itersize = itersize
            cur.execute(SELECT_EVERYTHING)
            yield from cur

    def environments(self) -> list[dict[str, Any]]:
        with self.conn.cursor() as cur:
            cur.execute(SELECT_ENVIRONMENTS)
            return cur.fetchall()

    def application(self, name: str) -> dict[str, Any] | None:
        with self.conn.cursor() as cur:
            cur.execute(SELECT_APPLICATION, {"name": name})
            return cur.fetchone()

    def configuration_ids(self, application_id: str) -> dict[str, str]:
        """Map each of the application's configuration names to its id."""
        with self.conn.cursor() as cur:
            cur.execute(SELECT_CONFIGURATION_IDS, {"application_id": application_id})
            return {row["name"]: row["id"] for row in cur.fetchall()}
