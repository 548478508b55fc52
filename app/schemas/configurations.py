"""Schemas of the configuration resource."""

from __future__ import annotations

from marshmallow import RAISE, Schema, fields

from app.schemas.common import Comments, Name, Timestamp, UlidString, check_json_document


def Config(**kwargs):  # noqa: N802 - reads like a field class
    """Return the field for a configuration's JSON object."""
    return fields.Dict(validate=check_json_document, **kwargs)


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
    version = fields.Integer(dump_only=True)
    created_at = Timestamp(dump_only=True)
    updated_at = Timestamp(dump_only=True)


class ConfigurationReplaceSchema(ConfigurationSchema):
    """A PUT body: `application_id` may be sent but must not change."""

    application_id = UlidString(load_default=None)


class ConfigurationPatchSchema(Schema):
    """A PATCH body: any of name, comments, config (a JSON Merge Patch)."""

    class Meta:
        unknown = RAISE

    name = Name()
    comments = Comments()
    config = Config()


class ConfigurationListSchema(Schema):
    """A page of configurations."""

    items = fields.List(fields.Nested(ConfigurationSchema))
    next_cursor = fields.String(allow_none=True)
