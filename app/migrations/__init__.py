"""Apply the SQL files beside this module in name order, each once, under an advisory lock."""

from __future__ import annotations

import hashlib
from contextlib import closing
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import psycopg2
import psycopg2.extensions

# Any fixed 64-bit number will do; it names this service's migration lock.
ADVISORY_LOCK_KEY = 0x636F6E666967  # "config"

# Create the table that records applied files.
CREATE_TABLE = """
CREATE TABLE IF NOT EXISTS schema_migrations (
    filename    text PRIMARY KEY,
    checksum    text NOT NULL,
    applied_at  timestamptz NOT NULL DEFAULT now()
)
"""
# Applied files, with their checksums and times.
SELECT_APPLIED = "SELECT filename, checksum, applied_at FROM schema_migrations"
# Tell whether the table exists yet (for --status, which must not create it).
TABLE_EXISTS = "SELECT to_regclass('schema_migrations') IS NOT NULL AS present"
# Record one applied file.
INSERT_APPLIED = """
INSERT INTO schema_migrations (filename, checksum) VALUES (%(filename)s, %(checksum)s)
"""
LOCK = "SELECT pg_advisory_lock(%(key)s)"
UNLOCK = "SELECT pg_advisory_unlock(%(key)s)"


class MigrationError(Exception):
    """The migrations cannot be applied safely."""


@dataclass(frozen=True)
class Migration:
    filename: str
    sql: str
    checksum: str


def discover(directory: Path) -> list[Migration]:
    """Return the migration files of a directory in name order."""
    found = []
    for path in sorted(Path(directory).glob("*.sql")):
        sql = path.read_text(encoding="utf-8")
        found.append(Migration(path.name, sql, hashlib.sha256(sql.encode()).hexdigest()))
    return found


def applied(conn: Any) -> dict[str, tuple[str, datetime]]:
    """Return each applied file's checksum and time ({} before the first migration)."""
    # A plain cursor on any connection: the pool's hand out dict rows.
    with conn.cursor(cursor_factory=psycopg2.extensions.cursor) as cur:
        cur.execute(TABLE_EXISTS)
        if not cur.fetchone()[0]:
            return {}
        cur.execute(SELECT_APPLIED)
        return {name: (checksum, at) for name, checksum, at in cur.fetchall()}


def _check_unchanged(migrations: list[Migration], applied: dict) -> None:
    for migration in migrations:
        recorded = applied.get(migration.filename)
        if recorded and recorded[0] != migration.checksum:
            raise MigrationError(
                f"{migration.filename} was edited after it was applied; "
                "add a new migration instead of changing an applied one"
            )


def pending(dsn: str, directory: Path) -> list[str]:
    """Return the names of files not applied yet (raise if an applied one was edited)."""
    with _connect(dsn) as conn:
        migrations = discover(directory)
        done = applied(conn)
        _check_unchanged(migrations, done)
        return [m.filename for m in migrations if m.filename not in done]


def status(dsn: str, directory: Path) -> list[str]:
    """Return one line per file: `applied <timestamp> <file>` or `pending <file>`."""
    with _connect(dsn) as conn:
        done = applied(conn)
    lines = []
    for migration in discover(directory):
        if migration.filename in done:
            # The session's time zone may be anything: show UTC, as RFC 3339 with Z.
            at = done[migration.filename][1].astimezone(timezone.utc)
            stamp = at.isoformat().replace("+00:00", "Z")
            lines.append(f"applied {stamp} {migration.filename}")
        else:
            lines.append(f"pending {migration.filename}")
    return lines


def migrate(dsn: str, directory: Path) -> list[str]:
    """Apply pending files, each in its own transaction; return the names applied."""
    migrations = discover(directory)
    with _connect(dsn) as conn, conn.cursor() as cur:
        cur.execute(LOCK, {"key": ADVISORY_LOCK_KEY})  # waits for a concurrent run
        try:
            cur.execute(CREATE_TABLE)
            before = applied(conn)
            _check_unchanged(migrations, before)
            done = []
            for migration in migrations:
                if migration.filename not in before:
                    _apply(conn, migration)
                    done.append(migration.filename)
            return done
        finally:
            cur.execute(UNLOCK, {"key": ADVISORY_LOCK_KEY})


def _apply(conn, migration: Migration) -> None:
    conn.autocommit = False
    try:
        with conn.cursor() as cur:
            cur.execute(migration.sql)
            record = {"filename": migration.filename, "checksum": migration.checksum}
            cur.execute(INSERT_APPLIED, record)
        conn.commit()
    except psycopg2.Error as exc:
        conn.rollback()
        raise MigrationError(f"{migration.filename} failed: {exc.pgerror or exc}".strip()) from None
    finally:
        conn.autocommit = True


def _connect(dsn: str) -> closing:
    """Open a dedicated autocommit connection (not from the pool), closed on exit."""
    conn = psycopg2.connect(dsn, connect_timeout=10, application_name="config-service-migrate")
    conn.autocommit = True
    return closing(conn)
