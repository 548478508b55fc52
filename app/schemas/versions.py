"""Schemas of configuration versions and of the differences between them."""

from __future__ import annotations

from typing import Any

from marshmallow import EXCLUDE, Schema, ValidationError, fields, validate

from app.schemas.common import Timestamp
from app.schemas.configurations import JsonSchema

NOT_A_VERSION = "Must be a positive integer."


class VersionSchema(Schema):
    """One version of a configuration, as answered."""

    class Meta:
        ordered = True

    version = fields.Integer()
    name = fields.String()
    comments = fields.String(allow_none=True)
    config = fields.Dict()
    schema = JsonSchema(dump_only=True)
    created_at = Timestamp()


class VersionListSchema(Schema):
    """A page of versions, newest first."""

    items = fields.List(fields.Nested(VersionSchema))
    next_cursor = fields.String(allow_none=True)


class VersionNumber(fields.Integer):
    """A version number in a query string: decimal digits only, at least 1."""

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> int:
        if not (isinstance(value, str) and value.isascii() and value.isdigit()):
            raise ValidationError(NOT_A_VERSION)
        return super()._deserialize(value, attr, data, **kwargs)


class DiffQuerySchema(Schema):
    """Query parameters of a diff: `to`, the version to compare with (default: current)."""

    class Meta:
        unknown = EXCLUDE

    to = VersionNumber(load_default=None, validate=validate.Range(min=1, error=NOT_A_VERSION))


class PatchOperationSchema(Schema):
    """One RFC 6902 operation (`value` is absent from a `remove`)."""

    class Meta:
        ordered = True

    op = fields.String(validate=validate.OneOf(["add", "remove", "replace"]))
    path = fields.String(metadata={"description": "An RFC 6901 JSON pointer into the config."})
    value = fields.Raw(allow_none=True)


class DiffSchema(Schema):
    """The JSON Patch that turns one version's config into another's."""

    class Meta:
        ordered = True

    from_ = fields.Integer(data_key="from")
    to = fields.Integer()
    patch = fields.List(fields.Nested(PatchOperationSchema))
