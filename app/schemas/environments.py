"""Schemas of environments, of overlays and of configurations resolved for an environment."""

from __future__ import annotations

from marshmallow import RAISE, Schema, fields

from app.schemas.common import Comments, Name, Timestamp
from app.schemas.configurations import Config, ConfigurationSchema


class EnvironmentSchema(Schema):
    """An environment: the POST body, and every answer."""

    class Meta:
        unknown = RAISE
        ordered = True

    id = fields.String(dump_only=True)
    name = Name(required=True)
    comments = Comments(load_default=None)
    created_at = Timestamp(dump_only=True)
    updated_at = Timestamp(dump_only=True)


class EnvironmentPatchSchema(Schema):
    """A PATCH body: only the comments change (a name never does)."""

    class Meta:
        unknown = RAISE

    comments = Comments()


class EnvironmentListSchema(Schema):
    """A page of environments."""

    items = fields.List(fields.Nested(EnvironmentSchema))
    next_cursor = fields.String(allow_none=True)


class OverlaySchema(Schema):
    """A configuration's overlay for one environment; `patch` and `comments` are the PUT body."""

    class Meta:
        unknown = RAISE
        ordered = True

    configuration_id = fields.String(dump_only=True)
    environment = fields.String(dump_only=True)
    patch = Config(
        required=True,
        metadata={"description": "An RFC 7386 merge patch applied to the base config."},
    )
    comments = Comments(load_default=None)
    version = fields.Integer(dump_only=True)
    created_at = Timestamp(dump_only=True)
    updated_at = Timestamp(dump_only=True)


class OverlayListSchema(Schema):
    """A page of a configuration's overlays, in environment name order."""

    items = fields.List(fields.Nested(OverlaySchema))
    next_cursor = fields.String(allow_none=True)


class OverlayVersionSchema(Schema):
    """One version of an overlay, as answered."""

    class Meta:
        ordered = True

    version = fields.Integer()
    patch = fields.Dict()
    comments = fields.String(allow_none=True)
    created_at = Timestamp()


class OverlayVersionListSchema(Schema):
    """A page of an overlay's versions, newest first."""

    items = fields.List(fields.Nested(OverlayVersionSchema))
    next_cursor = fields.String(allow_none=True)


class ResolvedConfigurationSchema(ConfigurationSchema):
    """A configuration as an environment sees it: `config` with the overlay applied."""

    environment = fields.String(dump_only=True)
    overlay_version = fields.Integer(
        dump_only=True, metadata={"description": "The overlay's version; 0 when it has none."}
    )
