"""SQL for applications."""

from __future__ import annotations

from typing import Any

from psycopg2 import errors

from app.repositories import STILL_REFERENCED, NameTaken, Repository, StillInUse

# Columns of an application as answered, configuration ids included.
_COLUMNS = """
    a.id, a.name, a.comments, a.created_at, a.updated_at,
    ARRAY(SELECT c.id FROM configurations c WHERE c.application_id = a.id ORDER BY c.id)
        AS configuration_ids
"""

# Create an application.
INSERT = f"""
INSERT INTO applications AS a (id, name, comments) VALUES (%(id)s, %(name)s, %(comments)s)
RETURNING {_COLUMNS}
"""
# One application by id.
SELECT_BY_ID = f"SELECT {_COLUMNS} FROM applications a WHERE a.id = %(id)s"
# One application by name.
SELECT_BY_NAME = f"SELECT {_COLUMNS} FROM applications a WHERE a.name = %(name)s"
# Tell whether an application exists.
EXISTS = "SELECT EXISTS (SELECT 1 FROM applications WHERE id = %(id)s) AS present"
# A page of applications after a key, optionally by literal name prefix and within a scope.
SELECT_PAGE = f"""
SELECT {_COLUMNS} FROM applications a
WHERE (%(after)s::text IS NULL OR a.id > %(after)s) AND a.name LIKE %(pattern)s
  AND (%(scope)s::text[] IS NULL OR a.id = ANY(%(scope)s::text[]))
ORDER BY a.id LIMIT %(limit)s
"""
# A page of applications' names only (no configuration ids): what a list to read shows.
SELECT_NAME_PAGE = """
SELECT a.id, a.name, a.comments FROM applications a
WHERE (%(after)s::text IS NULL OR a.id > %(after)s) AND a.name LIKE %(pattern)s
  AND (%(scope)s::text[] IS NULL OR a.id = ANY(%(scope)s::text[]))
ORDER BY a.id LIMIT %(limit)s
"""
# One application's name and comments, without its configuration ids.
SELECT_NAME = "SELECT a.id, a.name, a.comments FROM applications a WHERE a.id = %(id)s"
# Change the fields flagged set_*; no row (and no write) when nothing would change.
UPDATE = f"""
UPDATE applications AS a SET
    name = CASE WHEN %(set_name)s THEN %(name)s ELSE a.name END,
    comments = CASE WHEN %(set_comments)s THEN %(comments)s ELSE a.comments END,
    updated_at = now()
WHERE a.id = %(id)s
  AND ((%(set_name)s AND a.name IS DISTINCT FROM %(name)s)
    OR (%(set_comments)s AND a.comments IS DISTINCT FROM %(comments)s))
RETURNING {_COLUMNS}
"""
# Delete an application (the foreign key refuses while configurations remain).
DELETE = "DELETE FROM applications WHERE id = %(id)s RETURNING id"
# Delete all configurations of an application (for a cascading delete), naming each.
DELETE_CONFIGURATIONS = """
DELETE FROM configurations WHERE application_id = %(id)s RETURNING id, version
"""


def _name_taken(name: str) -> NameTaken:
    return NameTaken(f"An application named {name!r} already exists.")


class ApplicationRepository(Repository):
    """Reads and writes applications on one connection."""

    def create(self, id: str, name: str, comments: str | None) -> dict[str, Any]:
        try:
            return self._row(INSERT, {"id": id, "name": name, "comments": comments})
        except errors.UniqueViolation:
            raise _name_taken(name) from None

    def get(self, id: str) -> dict[str, Any] | None:
        return self._one(SELECT_BY_ID, {"id": id})

    def get_by_name(self, name: str) -> dict[str, Any] | None:
        return self._one(SELECT_BY_NAME, {"name": name})

    def exists(self, id: str) -> bool:
        return bool(self._row(EXISTS, {"id": id})["present"])

    def page(
        self, limit: int, after: str | None, pattern: str, scope: list[str] | None = None
    ) -> list[dict[str, Any]]:
        """Return up to limit+1 rows, so the caller knows whether another page follows;
        with a scope, only the applications whose ids it lists."""
        params = {"after": after, "pattern": pattern, "limit": limit + 1, "scope": scope}
        with self.conn.cursor() as cur:
            cur.execute(SELECT_PAGE, params)
            return cur.fetchall()

    def names_page(
        self, limit: int, after: str | None, pattern: str, scope: list[str] | None
    ) -> list[dict[str, Any]]:
        """Return up to limit+1 applications' ids, names and comments (see `page`)."""
        params = {"after": after, "pattern": pattern, "limit": limit + 1, "scope": scope}
        with self.conn.cursor() as cur:
            cur.execute(SELECT_NAME_PAGE, params)
            return cur.fetchall()

    def name_of(self, id: str) -> dict[str, Any] | None:
        return self._one(SELECT_NAME, {"id": id})

    def update(self, id: str, changes: dict[str, Any]) -> dict[str, Any] | None:
        """Apply the changes; None when nothing would change or there is no such application."""
        params = {
            "id": id,
            "set_name": "name" in changes,
            "name": changes.get("name"),
            "set_comments": "comments" in changes,
            "comments": changes.get("comments"),
        }
        try:
            return self._one(UPDATE, params)
        except errors.UniqueViolation:
            raise _name_taken(changes["name"]) from None

    def delete(self, id: str, cascade: bool) -> list[dict[str, Any]] | None:
        """Delete; return the configurations deleted with it, or None if there is no such one."""
        removed: list[dict[str, Any]] = []
        with self.conn.cursor() as cur:
            if cascade:
                cur.execute(DELETE_CONFIGURATIONS, {"id": id})
                removed = cur.fetchall()
            try:
                cur.execute(DELETE, {"id": id})
            except STILL_REFERENCED:
                raise StillInUse("The application still has configurations.") from None
            return removed if cur.fetchone() is not None else None
