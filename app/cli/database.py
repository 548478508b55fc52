"""What every command that touches the database shares: its connection and its errors."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import closing, contextmanager
from typing import Any

import click
import psycopg2
from flask import current_app

from app.db import connection_kwargs
from app.settings import PROJECT_ROOT, SETTINGS

# Where `make run` keeps the embedded development PostgreSQL (devtools/devdb.py).
EMBEDDED_DATA_DIR = PROJECT_ROOT / ".devdb" / "pgdata"


def refuse_default_url_beside_embedded_database() -> None:
    """Stop a command that would use the default URL in a checkout that serves the embedded
    PostgreSQL: it would silently read or change another database than the service's."""
    default = SETTINGS["DATABASE_URL"][0]
    if current_app.config["DATABASE_URL"] == default and EMBEDDED_DATA_DIR.is_dir():
        raise click.ClickException(
            "DATABASE_URL is not set, and `make run` here serves the embedded PostgreSQL in "
            f'{EMBEDDED_DATA_DIR.parent}: use `make flask ARGS="..."` to reach it, or set '
            "DATABASE_URL"
        )


@contextmanager
def database_errors() -> Iterator[None]:
    """Turn a database that cannot be reached, or is not migrated, into one clear line."""
    refuse_default_url_beside_embedded_database()
    try:
        yield
    except psycopg2.errors.UndefinedTable:
        raise click.ClickException("the tables are missing: run `flask migrate`") from None
    except psycopg2.OperationalError as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else "connection failed"
        raise click.ClickException(f"cannot reach the database: {reason}") from None


@contextmanager
def connection() -> Iterator[Any]:
    """Open a connection of the command's own (closed, so rolled back unless committed)."""
    with (
        database_errors(),
        closing(psycopg2.connect(**connection_kwargs(current_app.config))) as conn,
    ):
        yield conn
