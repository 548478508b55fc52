"""Repositories: parameterized SQL over a connection the caller owns."""

from __future__ import annotations

from typing import Any


class Repository:
    """Runs statements on one connection; the caller owns the transaction."""

    def __init__(self, conn: Any):
        self.conn = conn

    def _one(self, sql: str, params: dict[str, Any]) -> dict[str, Any] | None:
        with self.conn.cursor() as cur:
            cur.execute(sql, params)
            return cur.fetchone()
