"""`flask migrate`: apply the SQL migrations, or list their status."""

from __future__ import annotations

import click
from flask import current_app
from flask.cli import with_appcontext

from app import migrations
from app.cli.database import database_errors
from app.db import direct_url


@click.command("migrate")
@click.option("--status", is_flag=True, help="List each file as applied or pending.")
@with_appcontext
def migrate_command(status: bool) -> None:
    """Apply pending database migrations (or show their status)."""
    # The advisory lock is held by a session: go direct to PostgreSQL, never through PgBouncer.
    dsn, directory = direct_url(current_app.config), current_app.config["MIGRATIONS_DIR"]
    try:
        with database_errors():
            if status:
                for line in migrations.status(dsn, directory):
                    click.echo(line)
                return
            applied = migrations.migrate(dsn, directory)
    except migrations.MigrationError as exc:
        raise click.ClickException(str(exc)) from None
    for name in applied:
        click.echo(f"applied {name}")
    if not applied:
        click.echo("nothing to apply: the database is up to date")
