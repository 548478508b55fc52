"""Schemas of the configuration resource."""

from __future__ import annotations

from typing import Any

from marshmallow import RAISE, Schema, ValidationError, fields

from app.documents.schema import check_schema
from app.schemas.common import Comments, Name, Timestamp, UlidString, check_json_document


def Config(**kwargs):  # noqa: N802 - reads like a field class
    """Return the field for a configuration's JSON object."""
    return fields.Dict(validate=check_json_document, **kwargs)


class JsonSchema(fields.Raw):
    """A JSON Schema (draft 2020-12): an object, a boolean, or null for none."""

    def __init__(self, **kwargs: Any):
        description = "A JSON Schema (draft 2020-12, object or boolean) the config must satisfy."
        metadata = {"description": description, **kwargs.pop("metadata", {})}
        super().__init__(allow_none=True, validate=check_schema, metadata=metadata, **kwargs)

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> Any:
        if not isinstance(value, (dict, bool)):
            raise ValidationError("Must be a JSON Schema: an object or a boolean.")
        return value


class ConfigurationSchema(Schema):
    """A configuration as answered, and the POST body."""

    class Meta:
        unknown = RAISE
        ordered = True

    id = fields.String(dump_only=True)
    application_id = UlidString(required=True)
    name = Name(required=True)
    comments = Comments(load_default=None)
    config = Config(required=True)
    schema = JsonSchema(load_default=None)
    version = fields.Integer(dump_only=True)
    created_at = Timestamp(dump_only=True)
    updated_at = Timestamp(dump_only=True)


class ConfigurationReplaceSchema(ConfigurationSchema):
    """A PUT body: `application_id` may be sent but must not change."""

    application_id = UlidString(load_default=None)


class ConfigurationPatchSchema(Schema):
    """A PATCH body: any of name, comments, config (a JSON Merge Patch), schema (replaced)."""

    class Meta:
        unknown = RAISE

    name = Name()
    comments = Comments()
    config = Config()
    schema = JsonSchema()


class ConfigurationListSchema(Schema):
    """A page of configurations."""

    items = fields.List(fields.Nested(ConfigurationSchema))
    next_cursor = fields.String(allow_none=True)
