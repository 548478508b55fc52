"""The values of the edit form's generated inputs: shown from the document, read back
from the form, and set into the document at their JSON pointers."""

from __future__ import annotations

import json
from typing import Any

from werkzeug.datastructures import MultiDict

from app.console.forms import Field
from app.documents.diff import same
from app.documents.load import loads

MISSING = object()


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
            if value is not MISSING or value_at(document, field.path) is not MISSING:
                document = _set(document, field.path, value)
        except ValueError as exc:
            errors[field.pointer] = str(exc)
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
    """Return a copy of the document with `value` at the path (MISSING: the key removed);
    ValueError when something other than an object stands on the path."""
    head, rest = path[0], path[1:]
    result = dict(document)
    if rest:
        below = result.get(head, {})
        if not isinstance(below, dict):  # never turn a list or a value into an object
            raise ValueError("The document holds no object here: edit the raw JSON instead.")
        result[head] = _set(below, rest, value)
    elif value is MISSING:
        result.pop(head, None)
    else:
        result[head] = value
    return result
