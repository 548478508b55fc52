"""SQL for environments."""

from __future__ import annotations

from typing import Any

from psycopg2 import errors

from app.repositories import STILL_REFERENCED, NameTaken, Repository, StillInUse

_COLUMNS = "e.id, e.name, e.comments, e.created_at, e.updated_at"

# Create an environment.
INSERT = f"""
INSERT INTO environments AS e (id, name, comments) VALUES (%(id)s, %(name)s, %(comments)s)
RETURNING {_COLUMNS}
"""
# One environment by name.
SELECT_BY_NAME = f"SELECT {_COLUMNS} FROM environments e WHERE e.name = %(name)s"
# A page of environments after a key, by literal name prefix.
SELECT_PAGE = f"""
SELECT {_COLUMNS} FROM environments e
WHERE (%(after)s::text IS NULL OR e.id > %(after)s) AND e.name LIKE %(pattern)s
ORDER BY e.id LIMIT %(limit)s
"""
# Change the comments; no row (and no write) when they are the same.
UPDATE_COMMENTS = f"""
UPDATE environments AS e SET comments = %(comments)s, updated_at = now()
WHERE e.name = %(name)s AND e.comments IS DISTINCT FROM %(comments)s
RETURNING {_COLUMNS}
"""
# Delete an environment (the foreign key refuses while overlays use it).
DELETE = f"DELETE FROM environments e WHERE e.name = %(name)s RETURNING {_COLUMNS}"
# Delete every overlay of an environment (for a cascading delete), naming each.
DELETE_OVERLAYS = """
DELETE FROM overlays WHERE environment = %(name)s RETURNING configuration_id, version
"""


class EnvironmentRepository(Repository):
    """Reads and writes environments on one connection."""

    def create(self, id: str, name: str, comments: str | None) -> dict[str, Any]:
        try:
            return self._row(INSERT, {"id": id, "name": name, "comments": comments})
        except errors.UniqueViolation:
            raise NameTaken(f"An environment named {name!r} already exists.") from None

    def get(self, name: str) -> dict[str, Any] | None:
        return self._one(SELECT_BY_NAME, {"name": name})

    def page(self, limit: int, after: str | None, pattern: str) -> list[dict[str, Any]]:
        """Return up to limit+1 rows in id order, so the caller knows if more follow."""
        with self.conn.cursor() as cur:
            cur.execute(SELECT_PAGE, {"after": after, "pattern": pattern, "limit": limit + 1})
            return cur.fetchall()

    def update_comments(self, name: str, comments: str | None) -> dict[str, Any] | None:
        """Write new comments; None when they equal the current ones (or no such name)."""
        return self._one(UPDATE_COMMENTS, {"name": name, "comments": comments})

    def delete(self, name: str) -> dict[str, Any] | None:
        """Delete an environment; None if absent; StillInUse while overlays use it."""
        try:
            return self._one(DELETE, {"name": name})
        except STILL_REFERENCED:
            raise StillInUse("Overlays of configurations use this environment.") from None

    def delete_overlays(self, name: str) -> list[dict[str, Any]]:
        """Delete the environment's overlays (a cascade) and name each."""
        with self.conn.cursor() as cur:
            cur.execute(DELETE_OVERLAYS, {"name": name})
            return cur.fetchall()
