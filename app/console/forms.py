"""The edit form's inputs generated from a configuration's JSON Schema: one per leaf
property of an object schema (their values: values.py)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any, NamedTuple

from app.documents.diff import pointer

KINDS = ("string", "integer", "number", "boolean")
MAX_FIELDS = 200  # a form beyond this is better edited as raw JSON


class Field(NamedTuple):
    """One generated input: where its value lives in the document and how it is typed."""

    pointer: str
    path: tuple[str, ...]
    kind: str  # string, integer, number, boolean or enum
    label: str
    options: tuple[Any, ...] = ()  # an enum's values

    @property
    def id(self) -> str:
        return field_id(self.pointer)

    @property
    def name(self) -> str:
        return f"field:{self.pointer}"

    @property
    def error_id(self) -> str:
        return "error-" + self.id.removeprefix("field-")

    @property
    def option_texts(self) -> list[str]:
        return [json.dumps(option, ensure_ascii=False) for option in self.options]


def field_id(where: str) -> str:
    """Return the element id of a JSON pointer's input: `/db/port` -> `field-db-port`."""
    return "field-" + where.replace("/", "-").lstrip("-")


def fields_of(schema: Any) -> list[Field]:
    """Return the inputs of an object schema's leaf properties (none for other schemas)."""
    return list(_walk(schema, ()))[:MAX_FIELDS]


def _walk(schema: Any, path: tuple[str, ...]) -> Iterator[Field]:
    if not isinstance(schema, dict):
        return
    properties = schema.get("properties")
    if not isinstance(properties, dict):
        return
    for key, sub in properties.items():
        if not isinstance(sub, dict):
            continue
        here = (*path, key)
        kind = _kind(sub)
        if kind == "object":
            yield from _walk(sub, here)
        elif kind is not None:
            title = sub.get("title")
            label = title if isinstance(title, str) else pointer(here)
            yield Field(pointer(here), here, kind, label, tuple(sub.get("enum") or ()))


def _kind(schema: dict[str, Any]) -> str | None:
    if isinstance(schema.get("enum"), list) and schema["enum"]:
        return "enum"
    types = schema.get("type")
    names = [types] if isinstance(types, str) else types if isinstance(types, list) else []
    named = [name for name in names if name != "null"]
    if not named and isinstance(schema.get("properties"), dict):
        return "object"
    first = named[0] if named else None
    return first if first in (*KINDS, "object") else None
