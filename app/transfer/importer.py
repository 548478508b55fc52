"""`flask import`: check a whole export file, then upsert it by names in one transaction."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator
from typing import Any

from marshmallow import ValidationError
from ulid import ULID

from app.documents import load as jsonload
from app.documents.diff import pointer
from app.repositories.applications import ApplicationRepository
from app.repositories.configurations import ConfigurationRepository
from app.transfer.environments import (
    Unsatisfied,
    check_stored,
    upsert_environments,
    upsert_overlays,
)
from app.transfer.format import ExportSchema, Pointer
from app.transfer.queries import TransferRepository
from app.web.audit import record


class InvalidFile(Exception):
    """The file cannot be imported; `problems` says why, each with a JSON pointer."""

    def __init__(self, problems: list[str]):
        super().__init__(f"{len(problems)} problem(s)")
        self.problems = problems


def parse(raw: bytes) -> Any:
    """Return the JSON document in `raw`, with the API's rules (no NaN, no infinite numbers)."""
    try:
        text = raw.decode("utf-8-sig")
        return jsonload.loads(text)
    except UnicodeDecodeError as exc:
        raise InvalidFile([f"not UTF-8 text (byte {exc.start})"]) from None
    except RecursionError:
        raise InvalidFile(["not valid JSON: nested too deeply"]) from None
    except ValueError as exc:
        raise InvalidFile([f"not valid JSON: {exc}"]) from None


def _problems(errors: Any, path: str = "") -> Iterator[str]:
    """Flatten marshmallow's nested errors into `<JSON pointer>: <message>` lines."""
    if isinstance(errors, dict):
        for key, value in errors.items():
            if isinstance(key, Pointer):
                step = str(key)
            else:
                step = "" if key == "_schema" else pointer([key])
            yield from _problems(value, path + step)
    else:
        for message in errors:
            yield f"{path}: {message}"


def check(document: Any) -> dict[str, Any]:
    """Return the loaded document, or raise InvalidFile naming every problem found."""
    if not isinstance(document, dict):
        raise InvalidFile([": Must be a JSON object."])
    try:
        return ExportSchema().load(document)
    except ValidationError as exc:
        raise InvalidFile(list(_problems(exc.messages))) from None


def count(document: dict[str, Any]) -> int:
    """Return how many configurations the document holds."""
    return sum(len(entry["configurations"]) for entry in document["applications"])


def upsert(
    conn: Any, document: dict[str, Any], actor: str, progress: Callable[[int], Any] | None = None
) -> Counter[str]:
    """Create or update every environment, application, configuration and overlay by name,
    in the caller's transaction; return counts such as `configurations created`. Nothing is
    deleted. InvalidFile if an overlay already stored breaks an imported schema."""
    counts: Counter[str] = Counter()
    upsert_environments(conn, document["environments"], actor, counts)
    for a, entry in enumerate(document["applications"]):
        application_id = _upsert_application(conn, entry, actor, counts)
        ids = TransferRepository(conn).configuration_ids(application_id)
        for c, item in enumerate(entry["configurations"]):
            overlays = item.pop("overlays")
            fields = {**item, "application_id": application_id}
            id = _upsert_configuration(conn, ids.get(item["name"]), fields, actor, counts)
            upsert_overlays(conn, id, overlays, actor, counts)
            try:
                check_stored(conn, id, fields, f"/applications/{a}/configurations/{c}")
            except Unsatisfied as exc:
                raise InvalidFile(exc.problems) from None
            if progress:
                progress(1)
    return counts


def _upsert_application(conn: Any, entry: dict[str, Any], actor: str, counts: Counter) -> str:
    current = TransferRepository(conn).application(entry["name"])
    repository = ApplicationRepository(conn)
    if current is None:
        row = repository.create(str(ULID()), entry["name"], entry["comments"])
        record(conn, "create", "application", row["id"], actor=actor)
        counts["applications created"] += 1
        return row["id"]
    if repository.update(current["id"], {"comments": entry["comments"]}) is None:
        counts["applications unchanged"] += 1
    else:
        record(conn, "update", "application", current["id"], actor=actor)
        counts["applications updated"] += 1
    return current["id"]


def _upsert_configuration(
    conn: Any, id: str | None, fields: dict[str, Any], actor: str, counts: Counter
) -> str:
    repository = ConfigurationRepository(conn)
    if id is None:
        row = repository.create(str(ULID()), fields)
        record(conn, "create", "configuration", row["id"], row["version"], actor=actor)
        counts["configurations created"] += 1
        return row["id"]
    changed = repository.update(id, fields)  # no row, no new version, when nothing changes
    if changed is None:
        counts["configurations unchanged"] += 1
    else:
        record(conn, "update", "configuration", id, changed["version"], actor=actor)
        counts["configurations updated"] += 1
    return id
