"""Repositories: parameterized SQL over a connection the caller owns.

They raise the domain errors below, never HTTP ones: app/web/errors.py gives each its status,
and the commands their own wording.
"""

from __future__ import annotations

from typing import Any

from psycopg2 import errors

# Deleting a row that others still refer to (ON DELETE RESTRICT): PostgreSQL 15 reports it
# as foreign_key_violation (23503), newer releases as restrict_violation (23001).
STILL_REFERENCED = (errors.ForeignKeyViolation, errors.RestrictViolation)


class DomainError(Exception):
    """A write the stored data does not allow."""


class NameTaken(DomainError):
    """Another row already has this name where names must be unique."""


class StillInUse(DomainError):
    """A row cannot go while others refer to it."""


class MissingReference(DomainError):
    """A field refers to a row that does not exist."""

    def __init__(self, field: str, message: str):
        super().__init__(message)
        self.field = field


class Repository:
    """Runs statements on one connection; the caller owns the transaction."""

    def __init__(self, conn: Any):
        self.conn = conn

    def _one(self, sql: str, params: dict[str, Any]) -> dict[str, Any] | None:
        with self.conn.cursor() as cur:
            cur.execute(sql, params)
            return cur.fetchone()

    def _row(self, sql: str, params: dict[str, Any]) -> dict[str, Any]:
        """Run a statement that always answers one row (an INSERT, an EXISTS)."""
        row = self._one(sql, params)
        assert row is not None
        return row
