"""Schemas of configuration versions."""

from __future__ import annotations

from marshmallow import Schema, fields

from app.schemas.common import Timestamp


class VersionSchema(Schema):
    """One version of a configuration, as answered."""

    class Meta:
        ordered = True

    version = fields.Integer()
    name = fields.String()
    comments = fields.String(allow_none=True)
    config = fields.Dict()
    created_at = Timestamp()


class VersionListSchema(Schema):
    """A page of versions, newest first."""

    items = fields.List(fields.Nested(VersionSchema))
    next_cursor = fields.String(allow_none=True)
