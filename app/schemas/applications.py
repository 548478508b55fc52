"""Schemas of the application resource."""

from __future__ import annotations

from marshmallow import RAISE, Schema, fields

from app.schemas.common import Comments, Name, Timestamp


class ApplicationSchema(Schema):
    """An application: POST and PUT bodies, and every answer."""

    class Meta:
        unknown = RAISE
        ordered = True

    id = fields.String(dump_only=True)
    name = Name(required=True)
    comments = Comments(load_default=None)
    configuration_ids = fields.List(fields.String(), dump_only=True)
    created_at = Timestamp(dump_only=True)
    updated_at = Timestamp(dump_only=True)


class ApplicationListSchema(Schema):
    """A page of applications."""

    items = fields.List(fields.Nested(ApplicationSchema))
    next_cursor = fields.String(allow_none=True)
