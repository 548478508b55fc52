"""Schemas of the audit log."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from app.schemas.common import PageQuerySchema, Timestamp
from app.schemas.common import _check_text as check_text
from app.web.audit import ACTIONS


class AuditEntrySchema(Schema):
    """One audit entry, as answered."""

    class Meta:
        ordered = True

    id = fields.String(dump_only=True)
    at = Timestamp(dump_only=True)
    actor = fields.String(dump_only=True)
    action = fields.String(dump_only=True)
    resource_type = fields.String(dump_only=True)
    resource_id = fields.String(dump_only=True)
    version = fields.Integer(dump_only=True, allow_none=True)
    request_id = fields.String(dump_only=True, allow_none=True)
    environment = fields.String(dump_only=True, allow_none=True)


class AuditListSchema(Schema):
    """A page of audit entries, newest first."""

    items = fields.List(fields.Nested(AuditEntrySchema))
    next_cursor = fields.String(allow_none=True)


class AuditQuerySchema(PageQuerySchema):
    """Query parameters of the audit list: paging and the three exact-match filters."""

    class Meta:
        unknown = "exclude"
        exclude = ("name_prefix",)  # entries have no name

    resource_id = fields.String(load_default=None, validate=[validate.Length(1, 128), check_text])
    actor = fields.String(load_default=None, validate=[validate.Length(1, 256), check_text])
    action = fields.String(load_default=None, validate=validate.OneOf(ACTIONS))
