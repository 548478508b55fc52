"""SQL for web console sessions."""

from __future__ import annotations

from typing import Any

from app.repositories import Repository

# Open a session for a token, lasting `hours`.
INSERT = """
INSERT INTO console_sessions (id, token_name, csrf, expires_at)
VALUES (%(id)s, %(token_name)s, %(csrf)s, now() + make_interval(hours => %(hours)s))
RETURNING id, token_name, csrf, created_at, expires_at
"""
# One session with its token's secret hash (to check that the token is still live) and
# whether it has expired, by the database's clock.
SELECT = """
SELECT s.id, s.token_name, s.csrf, s.expires_at, t.secret_sha256,
       s.expires_at <= now() AS expired
FROM console_sessions s JOIN api_tokens t ON t.name = s.token_name
WHERE s.id = %(id)s
"""
# End one session.
DELETE = "DELETE FROM console_sessions WHERE id = %(id)s"
# Forget sessions that have expired (a sign-in sweeps them).
DELETE_EXPIRED = "DELETE FROM console_sessions WHERE expires_at <= now()"


class ConsoleSessionRepository(Repository):
    """Reads and writes console sessions on one connection."""

    def create(self, id: str, token_name: str, csrf: str, hours: int) -> dict[str, Any]:
        params = {"id": id, "token_name": token_name, "csrf": csrf, "hours": hours}
        return self._row(INSERT, params)

    def get(self, id: str) -> dict[str, Any] | None:
        return self._one(SELECT, {"id": id})

    def delete(self, id: str) -> None:
        with self.conn.cursor() as cur:
            cur.execute(DELETE, {"id": id})

    def delete_expired(self) -> None:
        with self.conn.cursor() as cur:
            cur.execute(DELETE_EXPIRED)
