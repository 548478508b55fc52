"""The edit form's inputs generated from a configuration's JSON Schema: one per leaf
property of an object schema, read back into the document."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any, NamedTuple

from werkzeug.datastructures import MultiDict

from app.documents.diff import pointer, same
from app.documents.load import loads

KINDS = ("string", "integer", "number", "boolean")
MAX_FIELDS = 200  # a form beyond this is better edited as raw JSON
MISSING = object()


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


def value_at(document: Any, path: tuple[str, ...]) -> Any:
    """Return the value at a path of object keys, or MISSING."""
    for key in path:
        if not isinstance(document, dict) or key not in document:
            return MISSING
        document = document[key]
    return document


def shown_value(field: Field, value: Any) -> str:
    """Return an input's text for a value (enums: the option's JSON text)."""
    if value is MISSING or value is None:
        return ""
    if field.kind == "enum" or not isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    return value


def typed_values(document: Any, fields: list[Field]) -> dict[str, str]:
    """Return each input's text as the document holds it."""
    return {field.pointer: shown_value(field, value_at(document, field.path)) for field in fields}


def sent_values(form: MultiDict, fields: list[Field]) -> dict[str, str]:
    """Return each input's text as the form sent it (checkboxes: "true" or "false")."""
    values = {}
    for field in fields:
        sent = form.getlist(field.name)
        if sent:
            values[field.pointer] = "true" if "true" in sent else sent[-1]
    return values


def apply_values(
    document: dict[str, Any], fields: list[Field], values: dict[str, str]
) -> tuple[dict[str, Any], dict[str, str]]:
    """Return the document with each sent value set at its pointer, and per pointer the
    error of a value that is not of its input's type. An empty input leaves its key out."""
    errors = {}
    for field in fields:
        text = values.get(field.pointer)
        if text is None or (text == "" and value_at(document, field.path) is MISSING):
            continue
        try:
            value = _parsed(field, text)
        except ValueError as exc:
            errors[field.pointer] = str(exc)
            continue
        document = _set(document, field.path, value)
    return document, errors


def _parsed(field: Field, text: str) -> Any:
    if field.kind == "string":
        return text
    if text.strip() == "":
        return MISSING
    if field.kind == "boolean":
        return text == "true"
    wanted = {"enum": "Choose one of the listed values.", "integer": "Enter a whole number."}
    problem = wanted.get(field.kind, "Enter a number.")
    try:
        value = loads(text)
    except (ValueError, RecursionError):
        raise ValueError(problem) from None
    integral = isinstance(value, int) and not isinstance(value, bool)
    fits = {
        "enum": any(same(value, option) for option in field.options),
        "integer": integral,
        "number": integral or isinstance(value, float),
    }
    if not fits[field.kind]:
        raise ValueError(problem)
    return value


def _set(document: dict[str, Any], path: tuple[str, ...], value: Any) -> dict[str, Any]:
    """Return a copy of the document with `value` at the path (MISSING: the key removed)."""
    head, rest = path[0], path[1:]
    result = dict(document)
    if rest:
        below = result.get(head)
        result[head] = _set(below if isinstance(below, dict) else {}, rest, value)
    elif value is MISSING:
        result.pop(head, None)
    else:
        result[head] = value
    return result
