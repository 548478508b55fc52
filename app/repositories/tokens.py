"""SQL for API tokens."""

from __future__ import annotations

from typing import Any

from psycopg2 import errors

from app.repositories import Repository

_COLUMNS = "t.name, t.role, t.created_at, t.last_used_at, t.revoked_at"
# A token's applications by id (NULL: every application), as authentication needs them.
_SCOPE = """CASE WHEN t.scoped THEN ARRAY(
    SELECT s.application_id FROM token_applications s WHERE s.token_name = t.name
) END AS scope"""

# Create a token from its name, role and secret's hash; None when the name is taken.
INSERT = f"""
INSERT INTO api_tokens AS t (name, role, secret_sha256, scoped)
VALUES (%(name)s, %(role)s, %(secret_sha256)s, %(scoped)s)
RETURNING {_COLUMNS}
"""
# Let a scoped token see one more application.
INSERT_SCOPE = """
INSERT INTO token_applications (token_name, application_id)
VALUES (%(name)s, %(application_id)s)
"""
# The live token with this secret hash.
SELECT_ACTIVE_BY_HASH = f"""
SELECT t.name, t.role, {_SCOPE}
FROM api_tokens t WHERE t.secret_sha256 = %(secret_sha256)s AND t.revoked_at IS NULL
"""
# Every live token by its secret hash (a worker's list of the tokens it accepts).
SELECT_ALL_ACTIVE = f"""
SELECT t.secret_sha256, t.name, t.role, {_SCOPE} FROM api_tokens t WHERE t.revoked_at IS NULL
"""
# Every token, revoked ones included, by name (never the hash), with its applications' names.
SELECT_ALL = f"""
SELECT {_COLUMNS}, CASE WHEN t.scoped THEN ARRAY(
    SELECT a.name FROM token_applications s JOIN applications a ON a.id = s.application_id
    WHERE s.token_name = t.name ORDER BY a.name
) END AS applications
FROM api_tokens t ORDER BY t.name
"""
# Tell whether any token was ever made.
ANY = "SELECT EXISTS (SELECT 1 FROM api_tokens) AS present"
# Revoke a live token; no row when there is none by that name.
REVOKE = f"""
UPDATE api_tokens AS t SET revoked_at = now()
WHERE t.name = %(name)s AND t.revoked_at IS NULL
RETURNING {_COLUMNS}
"""
# Note a use; the guard makes a concurrent second touch a no-op.
TOUCH = """
UPDATE api_tokens SET last_used_at = now()
WHERE name = %(name)s AND (last_used_at IS NULL OR last_used_at < now() - interval '1 minute')
"""


class TokenRepository(Repository):
    """Reads and writes API tokens on one connection."""

    def create(
        self, name: str, role: str, secret_sha256: bytes, scoped: bool = False
    ) -> dict[str, Any] | None:
        params = {"name": name, "role": role, "secret_sha256": secret_sha256, "scoped": scoped}
        try:
            return self._one(INSERT, params)
        except errors.UniqueViolation:
            return None

    def add_scope(self, name: str, application_id: str) -> None:
        with self.conn.cursor() as cur:
            cur.execute(INSERT_SCOPE, {"name": name, "application_id": application_id})

    def find_active(self, secret_sha256: bytes) -> dict[str, Any] | None:
        return self._one(SELECT_ACTIVE_BY_HASH, {"secret_sha256": secret_sha256})

    def live(self) -> dict[bytes, dict[str, Any]]:
        with self.conn.cursor() as cur:
            cur.execute(SELECT_ALL_ACTIVE)
            return {bytes(row.pop("secret_sha256")): dict(row) for row in cur.fetchall()}

    def all(self) -> list[dict[str, Any]]:
        with self.conn.cursor() as cur:
            cur.execute(SELECT_ALL)
            return cur.fetchall()

    def any(self) -> bool:
        return bool(self._row(ANY, {})["present"])

    def revoke(self, name: str) -> dict[str, Any] | None:
        return self._one(REVOKE, {"name": name})

    def touch(self, name: str) -> None:
        with self.conn.cursor() as cur:
            cur.execute(TOUCH, {"name": name})
