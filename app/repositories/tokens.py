"""SQL for API tokens."""

from __future__ import annotations

from typing import Any

from psycopg2 import errors

from app.repositories import Repository

_COLUMNS = "t.name, t.role, t.created_at, t.last_used_at, t.revoked_at"

# Create a token from its name, role and secret's hash; None when the name is taken.
INSERT = f"""
INSERT INTO api_tokens AS t (name, role, secret_sha256)
VALUES (%(name)s, %(role)s, %(secret_sha256)s)
RETURNING {_COLUMNS}
"""
# The live token with this secret hash.
SELECT_ACTIVE_BY_HASH = """
SELECT t.name, t.role
FROM api_tokens t WHERE t.secret_sha256 = %(secret_sha256)s AND t.revoked_at IS NULL
"""
# Every token, revoked ones included, by name (never the hash).
SELECT_ALL = f"SELECT {_COLUMNS} FROM api_tokens t ORDER BY t.name"
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

    def create(self, name: str, role: str, secret_sha256: bytes) -> dict[str, Any] | None:
        params = {"name": name, "role": role, "secret_sha256": secret_sha256}
        try:
            return self._one(INSERT, params)
        except errors.UniqueViolation:
            return None

    def find_active(self, secret_sha256: bytes) -> dict[str, Any] | None:
        return self._one(SELECT_ACTIVE_BY_HASH, {"secret_sha256": secret_sha256})

    def all(self) -> list[dict[str, Any]]:
        with self.conn.cursor() as cur:
            cur.execute(SELECT_ALL)
            return cur.fetchall()

    def any(self) -> bool:
        return bool(self._one(ANY, {})["present"])  # type: ignore[index]

    def revoke(self, name: str) -> dict[str, Any] | None:
        return self._one(REVOKE, {"name": name})

    def touch(self, name: str) -> None:
        with self.conn.cursor() as cur:
            cur.execute(TOUCH, {"name": name})
