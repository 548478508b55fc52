"""`flask tokens`: create, list, revoke and bootstrap API tokens."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import closing, contextmanager
from datetime import datetime, timezone
from typing import Any

import click
import psycopg2
from flask import current_app
from flask.cli import AppGroup

from app.audit import cli_actor
from app.db import connection_kwargs
from app.tokens import ROLES, TokenError, bootstrap_token, create_token, list_tokens, revoke_token

tokens_group = AppGroup("tokens", help="Manage the API tokens (section 7 of the API contract).")
COLUMNS = ("NAME", "ROLE", "CREATED", "LAST USED", "REVOKED")
LOCAL_URL = "http://127.0.0.1:8000"  # where `make run` serves


@contextmanager
def _transaction() -> Iterator[Any]:
    """Open a connection of our own for one transaction; turn failures into clear errors."""
    try:
        with closing(psycopg2.connect(**connection_kwargs(current_app.config))) as conn, conn:
            yield conn
    except TokenError as exc:
        raise click.ClickException(str(exc)) from None
    except psycopg2.errors.UndefinedTable:
        raise click.ClickException("the token table is missing: run `flask migrate`") from None
    except psycopg2.OperationalError as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else "connection failed"
        raise click.ClickException(f"cannot reach the database: {reason}") from None


def _when(value: datetime | None) -> str:
    if value is None:
        return "-"
    return value.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


@tokens_group.command("create")
@click.argument("name")
@click.option("--role", required=True, type=click.Choice(ROLES), help="What the token may do.")
def create_command(name: str, role: str) -> None:
    """Create a token; its secret is the last line printed, and is never shown again."""
    with _transaction() as conn:
        secret = create_token(conn, name, role, cli_actor())
    click.echo(f"Created {role} token {name!r}. Its secret follows; store it now:")
    click.echo(secret)


def token_table(rows: list[dict[str, Any]]) -> list[str]:
    """Format tokens as aligned text lines under a header."""
    table = [COLUMNS]
    for row in rows:
        times = (row["created_at"], row["last_used_at"], row["revoked_at"])
        table.append((row["name"], row["role"], *map(_when, times)))
    widths = [max(len(line[i]) for line in table) for i in range(len(COLUMNS))]
    return [
        "  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True)).rstrip()
        for line in table
    ]


@tokens_group.command("list")
def list_command() -> None:
    """List tokens: name, role, created, last used, revoked (never a secret)."""
    with _transaction() as conn:
        rows = list_tokens(conn)
    for line in token_table(rows):
        click.echo(line)


@tokens_group.command("revoke")
@click.argument("name")
def revoke_command(name: str) -> None:
    """Revoke a token: every worker refuses it within milliseconds (its NOTIFY)."""
    with _transaction() as conn:
        revoke_token(conn, name, cli_actor())
    click.echo(f"Revoked token {name!r}.")


@tokens_group.command("bootstrap")
@click.option("--url", default=LOCAL_URL, show_default=True, help="Base URL for the curl line.")
def bootstrap_command(url: str) -> None:
    """Make an admin token named `admin` if auth is on and no token was ever made."""
    if not current_app.config["AUTH_ENABLED"]:
        click.echo("Auth is off (AUTH_ENABLED=false): the API answers without a token.")
        return
    with _transaction() as conn:
        secret = bootstrap_token(conn, cli_actor())
    if secret is None:
        click.echo("API tokens exist (flask tokens list); flask tokens create makes more.")
        return
    click.echo("No API token existed, so an admin token named 'admin' was made.")
    click.echo("Its secret is shown this once (last line); store it now. Try:")
    endpoint = f"{url.rstrip('/')}/api/v1/applications"
    click.echo(f'  curl -s -H "Authorization: Bearer {secret}" {endpoint}')
    click.echo(secret)
