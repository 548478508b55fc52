"""Environments as the console shows them: each resolved document, and for each value the
layer that set it (the base, or the environment's overlay)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from app.documents.diff import pointer
from app.documents.merge import merge_patch
from app.repositories.environments import EnvironmentRepository
from app.repositories.overlays import OverlayRepository

BATCH = 100
ABSENT = object()


def resolved_environments(conn: Any, configuration: dict[str, Any]) -> list[dict[str, Any]]:
    """Return, per environment, its name, resolved document and (pointer, layer) rows."""
    overlays = OverlayRepository(conn)
    sections = []
    for name in _environment_names(conn):
        row = overlays.resolve(configuration["id"], name)
        patch = None if row is None else row["patch"]
        base = configuration["config"]
        document = base if patch is None else merge_patch(base, patch)
        layer = f"overlay {name}"
        origins = [(where, layer if mine else "base") for where, mine in _leaves(document, patch)]
        text = json.dumps(document, indent=2, ensure_ascii=False)
        sections.append({"name": name, "document": text, "origins": origins})
    return sections


def _environment_names(conn: Any) -> Iterator[str]:
    repo, after = EnvironmentRepository(conn), None
    while True:
        rows = repo.page(BATCH, after, "%")
        yield from (row["name"] for row in rows[:BATCH])
        if len(rows) <= BATCH:
            return
        after = rows[BATCH - 1]["id"]


def _leaves(document: Any, patch: Any, path: tuple = ()) -> Iterator[tuple[str, bool]]:
    """Yield each leaf's pointer and whether the patch set it (a value the patch holds at
    that place, or above it as anything other than an object, came from the overlay)."""
    from_patch = patch is not ABSENT and patch is not None and not isinstance(patch, dict)
    if isinstance(document, dict) and document and not from_patch:
        for key, value in document.items():
            below = patch.get(key, ABSENT) if isinstance(patch, dict) else ABSENT
            yield from _leaves(value, below, (*path, key))
    else:
        overlaid = from_patch or (isinstance(patch, dict) and bool(path))
        yield pointer(path) or "(the whole document)", overlaid
