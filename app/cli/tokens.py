"""`flask tokens`: create, list, revoke and bootstrap API tokens."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import click
from flask import current_app
from flask.cli import AppGroup

from app.cli.database import connection
from app.web.audit import cli_actor
from app.web.tokens import (
    ROLES,
    TokenError,
    bootstrap_token,
    create_token,
    list_tokens,
    revoke_token,
)

tokens_group = AppGroup("tokens", help="Manage the API tokens: create, list, revoke.")
COLUMNS = ("NAME", "ROLE", "CREATED", "LAST USED", "REVOKED", "APPLICATIONS")
EVERY_APPLICATION = "*"  # an unscoped token's APPLICATIONS
LOCAL_URL = "http://127.0.0.1:8000"  # where `make run` serves


@contextmanager
def _transaction() -> Iterator[Any]:
    """Open a connection of our own for one transaction; turn failures into clear errors."""
    try:
        with connection() as conn, conn:
            yield conn
    except TokenError as exc:
        raise click.ClickException(str(exc)) from None


def _when(value: datetime | None) -> str:
    if value is None:
        return "-"
    return value.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


@tokens_group.command("create")
@click.argument("name")
@click.option("--role", required=True, type=click.Choice(ROLES), help="What the token may do.")
@click.option(
    "--application",
    "applications",
    multiple=True,
    metavar="APP",
    help="Limit the token to this application (repeat for more); default: every one.",
)
@click.option(
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write the secret to this new file (mode 0600) instead of printing it; if the file"
    " cannot be made, no token is created.",
)
def create_command(
    name: str, role: str, applications: tuple[str, ...], output: Path | None
) -> None:
    """Create a token; its secret is the last line printed (or is in --output FILE), once."""
    scope = f" for {', '.join(sorted(set(applications)))}" if applications else ""
    if output is not None:
        create_into_file(name, role, applications, output)
        click.echo(f"Created {role} token {name!r}{scope}; its secret is in {output} (mode 0600).")
        return
    with _transaction() as conn:
        secret = create_token(conn, name, role, cli_actor(), applications)
    click.echo(f"Created {role} token {name!r}{scope}. Its secret follows; store it now:")
    click.echo(secret)


def _scope(applications: list[str] | None) -> str:
    if applications is None:
        return EVERY_APPLICATION
    return ",".join(applications) or "(none left)"


def create_into_file(name: str, role: str, applications: tuple[str, ...], output: Path) -> None:
    """Create a token and write its secret to a new 0600 file: both happen, or neither."""
    try:  # the file first, exclusively: a token whose secret cannot be kept is never made
        fd = os.open(output, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except OSError as exc:
        raise click.ClickException(
            f"cannot create {output}: {exc.strerror}; no token was created"
        ) from None
    try:
        with os.fdopen(fd, "w") as file, _transaction() as conn:
            os.fchmod(file.fileno(), 0o600)  # whatever the umask
            file.write(create_token(conn, name, role, cli_actor(), applications) + "\n")
            file.flush()
            os.fsync(file.fileno())  # on disk before the commit makes the token live
    except BaseException:
        output.unlink(missing_ok=True)  # the transaction rolled back: no token, no file
        raise


def token_table(rows: list[dict[str, Any]]) -> list[str]:
    """Format tokens as aligned text lines under a header."""
    table = [COLUMNS]
    for row in rows:
        times = (row["created_at"], row["last_used_at"], row["revoked_at"])
        table.append((row["name"], row["role"], *map(_when, times), _scope(row["applications"])))
    widths = [max(len(line[i]) for line in table) for i in range(len(COLUMNS))]
    return [
        "  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True)).rstrip()
        for line in table
    ]


@tokens_group.command("list")
def list_command() -> None:
    """List tokens: name, role, created, last used, revoked, applications (never a secret)."""
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
