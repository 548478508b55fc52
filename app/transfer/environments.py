"""`flask import` of a v2 file's environments and overlays, by name, in the caller's
transaction; every resolved environment must satisfy its configuration's schema."""

from __future__ import annotations

from collections import Counter
from typing import Any

from ulid import ULID

from app.documents.merge import merge_patch
from app.documents.schema import violations
from app.repositories.environments import EnvironmentRepository
from app.repositories.overlays import OverlayRepository
from app.web.audit import record


class Unsatisfied(Exception):
    """Overlays already stored (not in the file) break an imported schema or config."""

    def __init__(self, problems: list[str]):
        super().__init__(f"{len(problems)} problem(s)")
        self.problems = problems


def upsert_environments(conn: Any, entries: list[dict[str, Any]], actor: str, counts: Counter):
    """Create each environment, or update its comments."""
    repository = EnvironmentRepository(conn)
    for entry in entries:
        name, comments = entry["name"], entry["comments"]
        current = repository.get(name)
        if current is None:
            row = repository.create(str(ULID()), name, comments)
            record(conn, "create", "environment", row["id"], actor=actor, environment=name)
            counts["environments created"] += 1
        elif (changed := repository.update_comments(name, comments)) is not None:
            record(conn, "update", "environment", changed["id"], actor=actor, environment=name)
            counts["environments updated"] += 1
        else:
            counts["environments unchanged"] += 1


def upsert_overlays(
    conn: Any, configuration_id: str, overlays: dict[str, Any], actor: str, counts: Counter
) -> None:
    """Create or update the configuration's overlays named in the file (none is deleted)."""
    repository = OverlayRepository(conn)
    for environment, fields in sorted(overlays.items()):
        if repository.get(configuration_id, environment) is None:
            row = repository.create(configuration_id, environment, fields)
            outcome = "created"
        else:
            row = repository.update(configuration_id, environment, fields)
            outcome = "unchanged" if row is None else "updated"
        if row is not None:
            action = "create" if outcome == "created" else "update"
            version = row["version"]
            record(conn, action, "overlay", configuration_id, version, actor, environment)
        counts[f"overlays {outcome}"] += 1


def check_stored(conn: Any, configuration_id: str, fields: dict[str, Any], where: str) -> None:
    """Raise Unsatisfied if an overlay stored with the configuration breaks its schema."""
    if fields.get("schema") is None:
        return
    problems = []
    for environment, patch in OverlayRepository(conn).patches(configuration_id).items():
        resolved = merge_patch(fields["config"], patch)
        for pointer, message in violations(resolved, fields["schema"]):
            problems.append(f"{where} (environment {environment!r}){pointer}: {message}")
    if problems:
        raise Unsatisfied(problems)
