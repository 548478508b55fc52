"""Schemas of POST /api/v1/watch: what the client holds, and the changes it is answered."""

from __future__ import annotations

import re
from typing import Any

from marshmallow import RAISE, Schema, ValidationError, fields, validate, validates_schema

from app.schemas.common import UlidString
from app.schemas.environments import ResolvedConfigurationSchema

MAX_WATCHED = 1000
# One entity tag as RFC 9110 writes it, weak or strong: "3", W/"3".
ENTITY_TAG = re.compile(r'(?:W/)?"[\x21\x23-\x7e\x80-\xff]*"')


def _check_entity_tag(value: str) -> None:
    if not ENTITY_TAG.fullmatch(value):
        raise ValidationError('Must be one entity tag, such as "3" (quotes included), or null.')


class WatchEntrySchema(Schema):
    """One watched configuration: by `id`, or by `application` and `name`, and its ETag."""

    class Meta:
        unknown = RAISE
        ordered = True

    id = UlidString(metadata={"description": "The configuration's id."})
    # Any text: a name no configuration can have is watched as absent, like an unknown one.
    application = fields.String(metadata={"description": "The application's name."})
    name = fields.String(metadata={"description": "The configuration's name."})
    # Any text, as names: an environment that cannot exist is watched as absent.
    environment = fields.String(
        metadata={"description": "An environment: watch the configuration resolved for it."}
    )
    etag = fields.String(
        required=True,
        allow_none=True,
        validate=_check_entity_tag,
        metadata={"description": "The ETag the client holds, or null: it does not exist."},
    )

    @validates_schema
    def one_form(self, data: dict[str, Any], **_: Any) -> None:
        """Require exactly one way of naming the configuration."""
        named = data.keys() & {"application", "name"}
        if ("id" in data) == bool(named) or len(named) == 1:
            raise ValidationError("Give either `id`, or both `application` and `name`.")


class WatchSchema(Schema):
    """The body of a watch: 1 to 1,000 configurations and the ETag the client holds of each."""

    class Meta:
        unknown = RAISE

    watch = fields.List(
        fields.Nested(WatchEntrySchema),
        required=True,
        validate=validate.Length(1, MAX_WATCHED),
    )


class ChangeSchema(Schema):
    """One watched configuration whose state differs from the client's."""

    class Meta:
        ordered = True

    index = fields.Integer(metadata={"description": "The entry's position in the request."})
    etag = fields.String(allow_none=True, metadata={"description": "null: it does not exist."})
    configuration = fields.Nested(
        ResolvedConfigurationSchema,
        allow_none=True,
        metadata={"description": "As a GET answers it (resolved for the entry's environment)."},
    )


class ChangesSchema(Schema):
    """The answer of a watch: every entry that differs, none when the wait ended quietly."""

    changes = fields.List(fields.Nested(ChangeSchema))
