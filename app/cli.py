"""The `flask` commands of the service."""

from __future__ import annotations

import click
import psycopg2
from flask import Flask, current_app

from app import migrations


@click.command("migrate")
@click.option("--status", is_flag=True, help="List each file as applied or pending.")
def migrate_command(status: bool) -> None:
    """Apply pending database migrations (or show their status)."""
    dsn, directory = current_app.config["DATABASE_URL"], current_app.config["MIGRATIONS_DIR"]
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
    app.cli.add_command(migrate_command)
