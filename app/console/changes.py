"""Changes as people read them: one line per JSON Patch operation, old value to new."""

from __future__ import annotations

import json
from typing import Any

from app.documents.rebase import PatchConflict, at

MAX_VALUE = 200  # characters of a value shown in a line; the raw JSON has all of it


def shown(value: Any) -> str:
    """Return a value as compact JSON, cut to MAX_VALUE characters."""
    text = json.dumps(value, ensure_ascii=False)
    return text if len(text) <= MAX_VALUE else text[: MAX_VALUE - 1] + "…"


def describe(patch: list[dict[str, Any]], base: Any) -> list[str]:
    """Return one line per operation: `replace /db/port: 5432 → 5433`, `add /x: 1`,
    `remove /y (was 2)`."""
    lines = []
    for operation in patch:
        op, where = operation["op"], operation["path"] or "(the whole document)"
        if op == "add":
            lines.append(f"add {where}: {shown(operation['value'])}")
        elif op == "remove":
            lines.append(f"remove {where} (was {shown(_old(base, operation))})")
        else:
            old, new = shown(_old(base, operation)), shown(operation["value"])
            lines.append(f"replace {where}: {old} → {new}")
    return lines


def _old(base: Any, operation: dict[str, Any]) -> Any:
    try:
        return at(base, operation["path"])
    except PatchConflict:  # not reached for a diff of `base` itself
        return None
