"""Schema of the RFC 9457 problem details every error answers (documentation only)."""

from __future__ import annotations

from marshmallow import Schema, fields


class ProblemSchema(Schema):
    """An error answer: app/errors.py builds it; the OpenAPI document describes it."""

    class Meta:
        ordered = True

    type = fields.String(required=True, metadata={"example": "about:blank"})
    title = fields.String(required=True, metadata={"example": "Unprocessable Content"})
    status = fields.Integer(required=True, metadata={"example": 422})
    detail = fields.String(metadata={"example": "Request body failed validation."})
    errors = fields.Dict(
        keys=fields.String(),
        values=fields.List(fields.String()),
        metadata={
            "description": "Field name → messages; only on 400 and 422 validation failures.",
            "example": {"name": ["String does not match expected pattern."]},
        },
    )
