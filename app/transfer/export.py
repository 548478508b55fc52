"""`flask export`: every application and the current state of its configurations, streamed."""

from __future__ import annotations

import json
from itertools import chain, groupby
from operator import itemgetter
from typing import IO, Any

from app.transfer.format import FORMAT
from app.transfer.queries import TransferRepository


def _text(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)


def _application(name: str, comments: str | None) -> str:
    return f'  {{"name": {_text(name)}, "comments": {_text(comments)}, "configurations": ['


def _configuration(row: dict[str, Any]) -> str:
    """Return one configuration as JSON text; config, schema and patches are PostgreSQL's
    jsonb text."""
    overlays = ", ".join(
        f'{_text(environment)}: {{"patch": {patch}, "comments": {_text(comments)}}}'
        for environment, patch, comments in row["overlays"] or ()
    )
    return (
        f'{{"name": {_text(row["name"])}, "comments": {_text(row["comments"])}, '
        f'"config": {row["config"]}, "schema": {row["schema"] or "null"}, '
        f'"overlays": {{{overlays}}}}}'
    )


def _environments(conn: Any) -> str:
    """Return the environments, one a line, as JSON text."""
    rows = TransferRepository(conn).environments()
    lines = (f'{{"name": {_text(r["name"])}, "comments": {_text(r["comments"])}}}' for r in rows)
    text = ",\n  ".join(lines)
    return f"[\n  {text}\n]" if text else "[]"


def export(conn: Any, out: IO[str]) -> tuple[int, int]:
    """Write the export document to `out` a row at a time; return the counts written.

    Applications and configurations come in name order, one configuration per line, so
    two exports of the same data are identical and diff well. Runs in the caller's
    transaction (a server-side cursor needs one), so it reads one snapshot throughout.
    """
    applications = configurations = 0
    out.write(f'{{"format": {_text(FORMAT)}, "environments": {_environments(conn)}, ')
    out.write('"applications": [')
    rows = TransferRepository(conn).everything()
    for name, group in groupby(rows, key=itemgetter("application_name")):
        first = next(group)
        out.write(",\n" if applications else "\n")
        out.write(_application(name, first["application_comments"]))
        applications += 1
        separator = "\n    "
        for row in chain([first], group) if first["name"] is not None else ():
            out.write(separator + _configuration(row))
            separator = ",\n    "
            configurations += 1
        out.write("\n  ]}")
    out.write("\n]}\n")
    return applications, configurations
