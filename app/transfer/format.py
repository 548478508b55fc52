"""Schemas of an export file (`flask export`, `flask import`): what a valid file holds."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from marshmallow import RAISE, Schema, ValidationError, fields, validate, validates_schema

from app.documents.merge import merge_patch
from app.documents.schema import violations
from app.schemas.common import Comments, Name
from app.schemas.configurations import Config, JsonSchema

FORMAT = "config-service/v2"  # what export writes
FORMATS = ("config-service/v1", FORMAT)  # what import reads: v1 has no environments


class Pointer(str):
    """An error key that is already a JSON pointer (into a config), not a field name."""


def _duplicates(original: Any, field: str) -> dict[str, Any]:
    """Name each entry whose name an earlier entry has already, keyed by index."""
    entries = original.get(field) if isinstance(original, dict) else None
    first: dict[str, int] = {}
    found: dict[int, dict[str, list[str]]] = defaultdict(dict)
    for index, entry in enumerate(entries if isinstance(entries, list) else []):
        name = entry.get("name") if isinstance(entry, dict) else None
        if isinstance(name, str) and first.setdefault(name, index) != index:
            found[index]["name"] = [f"Duplicate name: entry {first[name]} has it too."]
    return {field: found} if found else {}


class EnvironmentEntrySchema(Schema):
    """One environment, by name (v2)."""

    class Meta:
        unknown = RAISE
        ordered = True

    name = Name(required=True)
    comments = Comments(load_default=None)


class OverlayEntrySchema(Schema):
    """A configuration's overlay for one environment (v2)."""

    class Meta:
        unknown = RAISE
        ordered = True

    patch = Config(required=True)
    comments = Comments(load_default=None)


def _violations(config: Any, schema: Any) -> dict[str, list[str]]:
    found: dict[str, list[str]] = defaultdict(list)
    for where, message in violations(config, schema):
        found[Pointer(where)].append(message)
    return dict(found)


class ConfigurationEntrySchema(Schema):
    """One configuration of an application, by name, with its overlays (v2)."""

    class Meta:
        unknown = RAISE
        ordered = True

    name = Name(required=True)
    comments = Comments(load_default=None)
    config = Config(required=True)
    schema = JsonSchema(load_default=None)
    overlays = fields.Dict(keys=Name(), values=fields.Nested(OverlayEntrySchema), load_default=dict)

    @validates_schema
    def _config_satisfies_schema(self, data: dict[str, Any], **kwargs: Any) -> None:
        """Check the base and every environment's resolved config against the schema."""
        errors: dict[str, Any] = {}
        found = _violations(data["config"], data["schema"])
        if found:
            errors["config"] = found
        for environment, overlay in data["overlays"].items():
            resolved = merge_patch(data["config"], overlay["patch"])
            found = _violations(resolved, data["schema"])
            if found:
                errors.setdefault("overlays", {})[environment] = {"patch": found}
        if errors:
            raise ValidationError(errors)


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
            raise ValidationError(errors)


class ExportSchema(Schema):
    """A whole file: `{"format": "config-service/v2", "environments": [...],
    "applications": [...]}`; a v1 file has neither environments nor overlays."""

    class Meta:
        unknown = RAISE
        ordered = True

    format = fields.String(
        required=True,
        validate=validate.OneOf(FORMATS, error=f"Must be one of {', '.join(map(repr, FORMATS))}."),
    )
    environments = fields.List(fields.Nested(EnvironmentEntrySchema), load_default=list)
    applications = fields.List(fields.Nested(ApplicationEntrySchema), required=True)

    @validates_schema(pass_original=True, skip_on_field_errors=False)
    def _names_are_unique(self, data: Any, original: Any, **kwargs: Any) -> None:
        errors = {**_duplicates(original, "applications"), **_duplicates(original, "environments")}
        if errors:
            raise ValidationError(errors)

    @validates_schema(pass_original=True, skip_on_field_errors=True)
    def _overlays_name_environments(self, data: Any, original: Any, **kwargs: Any) -> None:
        """Refuse environments in a v1 file, and overlays of environments the file lacks."""
        if data["format"] != FORMAT and "environments" in original:
            raise ValidationError({"environments": [f"Needs format {FORMAT!r}."]})
        declared = {entry["name"] for entry in data["environments"]}
        errors: dict[int, Any] = {}
        for a, application in enumerate(data["applications"]):
            for c, configuration in enumerate(application["configurations"]):
                for environment in configuration["overlays"].keys() - declared:
                    message = [f"No environment {environment!r} in the file's environments."]
                    overlays = {"overlays": {environment: message}}
                    errors.setdefault(a, {"configurations": {}})["configurations"][c] = overlays
        if errors:
            raise ValidationError({"applications": errors})
