"""apispec's MarshmallowPlugin, taught this service's field types and request conventions."""

from __future__ import annotations

from typing import Any

from apispec.ext.marshmallow import MarshmallowPlugin, OpenAPIConverter
from marshmallow import fields

from app.schemas import common as rules
from app.schemas.configurations import JsonSchema

ULID = f"^{rules.ULID_REGEX}$"
NAME = f"^{rules.NAME_PATTERN.pattern}$"


def schema_name(schema: Any) -> str:
    """Name a component: ApplicationSchema -> Application; as a body ApplicationInput or,
    partial, ApplicationPatch."""
    if isinstance(schema, type):
        return schema.__name__.removesuffix("Schema")
    name = type(schema).__name__.removesuffix("Schema")
    if schema.partial is True:
        return f"{name}Patch"
    return f"{name}Input" if schema.exclude else name


def field_rules(converter: Any, field: fields.Field, **_: Any) -> dict[str, Any]:
    """Describe what the service's own field types and validators accept (an apispec method)."""
    if isinstance(field, rules.Timestamp):
        return {"type": "string", "format": "date-time"}
    if isinstance(field, JsonSchema):
        return {"type": ["object", "boolean", "null"]}
    if isinstance(field, rules.UlidString):
        return {"pattern": ULID}
    if isinstance(field, rules.Name):
        return {"pattern": NAME}
    return {}


class Converter(OpenAPIConverter):
    """apispec's converter, told what a PATCH body and a query string mean here."""

    def fields2jsonschema(self, fields: Any, *, partial: Any = None) -> dict[str, Any]:
        """Describe a body; in a partial (PATCH) one an absent field keeps its value."""
        jsonschema = super().fields2jsonschema(fields, partial=partial)
        for prop in jsonschema["properties"].values() if partial else ():
            prop.pop("default", None)
        return jsonschema

    def schema2parameters(self, schema: Any, *, location: str, **kwargs: Any) -> list[dict]:
        """Describe query parameters: absent means the default, so none is ever null."""
        parameters = super().schema2parameters(schema, location=location, **kwargs)
        for parameter in parameters:
            prop = parameter.get("schema", {})
            if isinstance(prop.get("type"), list):
                prop["type"] = next(t for t in prop["type"] if t != "null")
            if "enum" in prop:
                prop["enum"] = [value for value in prop["enum"] if value is not None]
            if prop.get("default", "") is None:
                del prop["default"]
        return parameters


class Plugin(MarshmallowPlugin):
    """The marshmallow plugin with the converter above and readable component names."""

    Converter = Converter

    def __init__(self) -> None:
        super().__init__(schema_name_resolver=schema_name)

    def init_spec(self, spec: Any) -> None:
        """Set up the converter, then teach it the service's fields."""
        super().init_spec(spec)
        assert self.converter is not None  # made by init_spec
        self.converter.add_attribute_function(field_rules)
