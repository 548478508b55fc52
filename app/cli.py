"""The `flask` commands of the service."""

from __future__ import annotations

import click
import psycopg2
from flask import Flask, current_app
from flask.cli import with_appcontext

from app import migrations
from app.db import direct_url


@click.command("migrate")
@click.option("--status", is_flag=True, help="List each file as applied or pending.")
@with_appcontext
def migrate_command(status: bool) -> None:
    """Apply pending database migrations (or show their status)."""
    # The advisory lock is held by a session: go direct to PostgreSQL, never through PgBouncer.
    dsn, directory = direct_url(current_app.config), current_app.config["MIGRATIONS_DIR"]
    try:
        if status:
            for line in migrations.status(dsn, directory):
                click.echo(line)
            return
        applied = migrations.migrate(dsn, directory)
    except migrations.MigrationError as exc:
        raise click.ClickException(str(exc)) from None
    except psycopg2.OperationalError as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else "connection failed"
        raise click.ClickException(f"cannot reach the database: {reason}") from None
    for name in applied:
        click.echo(f"applied {name}")
    if not applied:
        click.echo("nothing to apply: the database is up to date")


def register_commands(app: Flask) -> None:
    """Add the service's commands to `flask`."""
    from app.tokens_cli import tokens_group
    from app.transfer_cli import export_command, import_command

    app.cli.add_command(migrate_command)
    app.cli.add_command(tokens_group)
    app.cli.add_command(export_command)
    app.cli.add_command(import_command)
