"""SQL for the audit log."""

from __future__ import annotations

from typing import Any

from app.repositories import Repository

_COLUMNS = """
    l.id, l.at, l.actor, l.action, l.resource_type, l.resource_id, l.version, l.environment,
    l.request_id
"""

# The audit log's columns as every write of an entry names them (here and in statements
# of other repositories that record their write in the same statement).
INSERT_INTO = (
    "INSERT INTO audit_log (id, actor, action, resource_type, resource_id, version, request_id)"
)
# Record one write (the caller's transaction holds the write itself).
INSERT = """
INSERT INTO audit_log
    (id, actor, action, resource_type, resource_id, version, environment, request_id)
VALUES (%(id)s, %(actor)s, %(action)s, %(resource_type)s, %(resource_id)s, %(version)s,
        %(environment)s, %(request_id)s)
"""
# A page of entries, newest first, older than a key, each filter applied when given.
SELECT_PAGE = f"""
SELECT {_COLUMNS} FROM audit_log l
WHERE (%(before)s::text IS NULL OR l.id < %(before)s)
  AND (%(resource_id)s::text IS NULL OR l.resource_id = %(resource_id)s)
  AND (%(actor)s::text IS NULL OR l.actor = %(actor)s)
  AND (%(action)s::text IS NULL OR l.action = %(action)s)
ORDER BY l.id DESC LIMIT %(limit)s
"""

# Who wrote each of these versions of a configuration (its update or restore entry).
SELECT_AUTHORS = """
SELECT l.version, l.actor FROM audit_log l
WHERE l.resource_id = %(resource_id)s AND l.resource_type = 'configuration'
  AND l.version = ANY(%(versions)s::integer[])
"""


class AuditRepository(Repository):
    """Writes and reads audit entries on one connection."""

    def record(
        self,
        id: str,
        actor: str,
        action: str,
        resource_type: str,
        resource_id: str,
        version: int | None = None,
        request_id: str | None = None,
        environment: str | None = None,
    ) -> None:
        params = {
            "id": id,
            "actor": actor,
            "action": action,
            "resource_type": resource_type,
            "resource_id": resource_id,
            "version": version,
            "request_id": request_id,
            "environment": environment,
        }
        with self.conn.cursor() as cur:
            cur.execute(INSERT, params)

    def page(self, limit: int, before: str | None, filters: dict[str, Any]) -> list[dict[str, Any]]:
        """Return up to limit+1 rows, newest first, so the caller knows if more follow."""
        params = {"resource_id": None, "actor": None, "action": None, **filters}
        with self.conn.cursor() as cur:
            cur.execute(SELECT_PAGE, {**params, "before": before, "limit": limit + 1})
            return cur.fetchall()

    def authors(self, configuration_id: str, versions: list[int]) -> dict[int, str]:
        """Return the actor who wrote each of these versions of a configuration."""
        with self.conn.cursor() as cur:
            cur.execute(SELECT_AUTHORS, {"resource_id": configuration_id, "versions": versions})
            return {row["version"]: row["actor"] for row in cur.fetchall()}
