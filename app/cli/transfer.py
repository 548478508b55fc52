"""`flask export` and `flask import`: back up and restore every application and configuration."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from typing import Any, BinaryIO, NoReturn

import click
from flask.cli import with_appcontext

from app.cli.database import connection
from app.repositories import DomainError
from app.transfer import importer
from app.transfer.export import export
from app.transfer.format import FORMATS
from app.web.audit import cli_actor

MAX_PROBLEMS_SHOWN = 100
V1 = FORMATS[0]  # whose import reports no environments or overlays
KINDS = ("applications", "configurations")
KINDS_V2 = ("environments", "applications", "configurations", "overlays")
OUTCOMES = ("created", "updated", "unchanged")


@contextmanager
def _connection() -> Iterator[Any]:
    """Open a connection of our own (closed, so rolled back unless committed, on exit)."""
    try:
        with connection() as conn:
            yield conn
    except DomainError as exc:  # e.g. a name taken by a concurrent write
        raise click.ClickException(f"{exc} Nothing was written.") from None


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
        try:
            with _progress(total) as bar:
                counts = importer.upsert(conn, document, cli_actor(), bar.update if bar else None)
        except importer.InvalidFile as exc:  # stored overlays break an imported schema
            _report(file.name, exc.problems)
        if dry_run:
            conn.rollback()
        else:
            conn.commit()
    if dry_run:
        click.echo("dry run: nothing was written; the import would give")
    for kind in KINDS if document["format"] == V1 else KINDS_V2:
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
