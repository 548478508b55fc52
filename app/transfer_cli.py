"""`flask export` and `flask import`: back up and restore every application and configuration."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import closing, contextmanager, nullcontext
from typing import Any, BinaryIO, NoReturn

import click
import psycopg2
from flask import current_app
from flask.cli import with_appcontext

from app import importer
from app.audit import cli_actor
from app.db import connection_kwargs
from app.errors import ServiceError
from app.export import export

MAX_PROBLEMS_SHOWN = 100
KINDS = ("applications", "configurations")
OUTCOMES = ("created", "updated", "unchanged")


@contextmanager
def _connection() -> Iterator[Any]:
    """Open a connection of our own (closed, so rolled back unless committed, on exit)."""
    try:
        with closing(psycopg2.connect(**connection_kwargs(current_app.config))) as conn:
            yield conn
    except ServiceError as exc:  # e.g. a name taken by a concurrent write
        raise click.ClickException(f"{exc.detail} Nothing was written.") from None
    except psycopg2.errors.UndefinedTable:
        raise click.ClickException("the tables are missing: run `flask migrate`") from None
    except psycopg2.OperationalError as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else "connection failed"
        raise click.ClickException(f"cannot reach the database: {reason}") from None


@click.command("export")
@click.option("-o", "--output", default="-", help="File to write (replaced whole at the end).")
@with_appcontext
def export_command(output: str) -> None:
    """Write every application and configuration (current versions) as one JSON document."""
    with _connection() as conn:
        conn.set_session(readonly=True)
        try:  # atomic: FILE appears, or is replaced, only once the export is complete
            with click.open_file(output, "w", encoding="utf-8", atomic=output != "-") as out:
                applications, configurations = export(conn, out)
        except OSError as exc:
            raise click.ClickException(f"cannot write {output}: {exc.strerror or exc}") from None
    where = "standard output" if output == "-" else output
    counts = f"{applications} application(s), {configurations} configuration(s)"
    click.echo(f"exported {counts} to {where}", err=output == "-")  # stdout stays pure JSON


@click.command("import")
@click.argument("file", type=click.File("rb"))
@click.option("--dry-run", is_flag=True, help="Check and count, but write nothing.")
@with_appcontext
def import_command(file: BinaryIO, dry_run: bool) -> None:
    """Create or update applications and configurations by name from an export file."""
    try:
        document = importer.check(importer.parse(file.read()))
    except importer.InvalidFile as exc:
        _report(file.name, exc.problems)
    total = importer.count(document)
    with _connection() as conn:
        with _progress(total) as bar:
            counts = importer.upsert(conn, document, cli_actor(), bar.update if bar else None)
        if dry_run:
            conn.rollback()
        else:
            conn.commit()
    if dry_run:
        click.echo("dry run: nothing was written; the import would give")
    for kind in KINDS:
        numbers = ", ".join(f"{counts[f'{kind} {what}']} {what}" for what in OUTCOMES)
        click.echo(f"{kind}: {numbers}")


def _progress(total: int) -> Any:
    """Return a progress bar on a terminal; nothing (None) when output goes elsewhere."""
    if not sys.stdout.isatty():
        return nullcontext(None)
    steps = max(1, total // 500)  # redraw at most ~500 times
    return click.progressbar(length=total, label="importing", update_min_steps=steps)


def _report(name: str, problems: list[str]) -> NoReturn:
    """Print what is wrong with the file and stop (exit 1)."""
    for problem in problems[:MAX_PROBLEMS_SHOWN]:
        click.echo(problem, err=True)
    if len(problems) > MAX_PROBLEMS_SHOWN:
        click.echo(f"... and {len(problems) - MAX_PROBLEMS_SHOWN} more", err=True)
    raise click.ClickException(f"{name} cannot be imported; nothing was written.")
