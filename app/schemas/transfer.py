"""Schemas of an export file (`flask export`, `flask import`): what a valid file holds."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from marshmallow import RAISE, Schema, ValidationError, fields, validate, validates_schema

from app.schemas.common import Comments, Name
from app.schemas.configurations import Config, JsonSchema
from app.validation import violations

FORMAT = "config-service/v1"


class Pointer(str):
    """An error key that is already a JSON pointer (into a config), not a field name."""


def _duplicates(original: Any, field: str) -> dict[int, dict[str, list[str]]]:
    """Name each entry whose name an earlier entry has already, keyed by index."""
    entries = original.get(field) if isinstance(original, dict) else None
    first: dict[str, int] = {}
    found: dict[int, dict[str, list[str]]] = defaultdict(dict)
    for index, entry in enumerate(entries if isinstance(entries, list) else []):
        name = entry.get("name") if isinstance(entry, dict) else None
        if isinstance(name, str) and first.setdefault(name, index) != index:
            found[index]["name"] = [f"Duplicate name: entry {first[name]} has it too."]
    return {field: found} if found else {}  # type: ignore[return-value]


class ConfigurationEntrySchema(Schema):
    """One configuration of an application, by name."""

    class Meta:
        unknown = RAISE
        ordered = True

    name = Name(required=True)
    comments = Comments(load_default=None)
    config = Config(required=True)
    schema = JsonSchema(load_default=None)

    @validates_schema
    def _config_satisfies_schema(self, data: dict[str, Any], **kwargs: Any) -> None:
        found: dict[str, list[str]] = defaultdict(list)
        for where, message in violations(data["config"], data["schema"]):
            found[Pointer(where)].append(message)
        if found:
            raise ValidationError({"config": dict(found)})


class ApplicationEntrySchema(Schema):
    """One application and its configurations, by name."""

    class Meta:
        unknown = RAISE
        ordered = True

    name = Name(required=True)
    comments = Comments(load_default=None)
    configurations = fields.List(fields.Nested(ConfigurationEntrySchema), load_default=list)

    @validates_schema(pass_original=True, skip_on_field_errors=False)
    def _names_are_unique(self, data: Any, original: Any, **kwargs: Any) -> None:
        errors = _duplicates(original, "configurations")
        if errors:
            raise ValidationError(errors)  # type: ignore[arg-type]


class ExportSchema(Schema):
    """A whole file: `{"format": "config-service/v1", "applications": [...]}`."""

    class Meta:
        unknown = RAISE
        ordered = True

    format = fields.String(
        required=True, validate=validate.Equal(FORMAT, error=f"Must be {FORMAT!r}.")
    )
    applications = fields.List(fields.Nested(ApplicationEntrySchema), required=True)

    @validates_schema(pass_original=True, skip_on_field_errors=False)
    def _names_are_unique(self, data: Any, original: Any, **kwargs: Any) -> None:
        errors = _duplicates(original, "applications")
        if errors:
            raise ValidationError(errors)  # type: ignore[arg-type]
