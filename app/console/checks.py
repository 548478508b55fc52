"""What the console checks before it shows a change: the text is JSON, the document obeys
the rules of every configuration, its schema, and its schema in every environment."""

from __future__ import annotations

import json
from typing import Any

from marshmallow import ValidationError

from app.api.writes import checked
from app.documents.load import loads
from app.documents.schema import violations
from app.repositories.overlays import OverlayRepository
from app.schemas.common import check_json_document


def read_document(text: str) -> tuple[dict[str, Any] | None, str | None]:
    """Return the configuration written in `text`, or None and why it is not one."""
    try:
        document = loads(text)
    except json.JSONDecodeError as exc:
        return None, f"Not valid JSON: line {exc.lineno} column {exc.colno}: {exc.msg}."
    except (ValueError, RecursionError) as exc:
        reason = "nested too deeply" if isinstance(exc, RecursionError) else str(exc)[:200]
        return None, f"Not valid JSON: {reason}."
    if not isinstance(document, dict):
        return None, "A configuration is a JSON object: { … }."
    try:
        check_json_document(document)
    except ValidationError as exc:
        return None, " ".join(flat(exc.messages))
    return document, None


def problems(conn: Any, configuration: dict[str, Any], document: dict[str, Any]) -> dict:
    """Return the document's violations of the configuration's schema: JSON pointer ->
    messages, and under "" those of no single place (an environment, the schema itself)."""
    schema = configuration["schema"]
    found: dict[str, list[str]] = {}
    try:
        for where, message in violations(document, schema):
            found.setdefault(where, []).append(message)
        if not found and schema is not None:
            patches = OverlayRepository(conn).patches(configuration["id"])
            checked({"config": document, "schema": schema}, patches, base=False)
    except ValidationError as exc:
        found.setdefault("", []).extend(flat(exc.messages))
    return found


def flat(messages: Any, prefix: str = "") -> list[str]:
    """Return marshmallow's messages (lists, or dicts of them) as a list of sentences."""
    if isinstance(messages, dict):
        return [line for key, value in messages.items() for line in flat(value, f"{key}: ")]
    if isinstance(messages, list):
        return [line for value in messages for line in flat(value, prefix)]
    return [f"{prefix}{messages}"]
