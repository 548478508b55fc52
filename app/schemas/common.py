"""Fields and rules the resource schemas share."""

from __future__ import annotations

import re
from datetime import datetime, timezone
from typing import Any

from marshmallow import Schema, ValidationError, fields, validate

NAME_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
ULID_PATTERN = re.compile(r"[0-7][0-9A-HJKMNP-TV-Z]{25}", re.IGNORECASE)
MAX_CONFIG_DEPTH = 32


def _check_name(value: str) -> None:
    if not NAME_PATTERN.fullmatch(value):  # fullmatch: a trailing newline is invalid
        raise ValidationError("String does not match expected pattern.")


def _check_text(value: str) -> None:
    """Refuse what PostgreSQL text and jsonb cannot store: NUL and lone surrogates."""
    if "\x00" in value:
        raise ValidationError("Must not contain the NUL character.")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ValidationError("Must be valid Unicode (no lone surrogates).") from None


def check_json_document(value: Any, depth: int = 1) -> None:
    """Refuse a JSON value nested past MAX_CONFIG_DEPTH containers or holding unstorable text."""
    if depth > MAX_CONFIG_DEPTH:
        raise ValidationError(f"Must not be nested deeper than {MAX_CONFIG_DEPTH} levels.")
    if isinstance(value, dict):
        for key, item in value.items():
            _check_text(key)
            if isinstance(item, (dict, list)):
                check_json_document(item, depth + 1)
            elif isinstance(item, str):
                _check_text(item)
    elif isinstance(value, list):
        for item in value:
            if isinstance(item, (dict, list)):
                check_json_document(item, depth + 1)
            elif isinstance(item, str):
                _check_text(item)


class Timestamp(fields.Field):
    """An RFC 3339 UTC timestamp with a Z suffix and microseconds (dump only)."""

    def _serialize(self, value: datetime | None, attr: Any, obj: Any, **kwargs: Any) -> Any:
        if value is None:
            return None
        return value.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def Name(**kwargs: Any) -> fields.String:  # noqa: N802 - reads like a field class
    """Return a field for application and configuration names."""
    return fields.String(validate=[validate.Length(1, 128), _check_name], **kwargs)


def Comments(**kwargs: Any) -> fields.String:  # noqa: N802
    """Return a field for free-text comments (null allowed)."""
    rules = [validate.Length(max=1024), _check_text]
    return fields.String(allow_none=True, validate=rules, **kwargs)


class UlidString(fields.String):
    """A ULID given in either case, loaded upper-case."""

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> str:
        text = super()._deserialize(value, attr, data, **kwargs)
        if not ULID_PATTERN.fullmatch(text):
            raise ValidationError("Not a valid ULID.")
        return text.upper()


class PageQuerySchema(Schema):
    """Query parameters of every list: `limit`, `cursor` and a literal `name_prefix`."""

    class Meta:
        unknown = "exclude"

    limit = fields.Integer(load_default=50, validate=validate.Range(1, 500))
    cursor = fields.String(load_default=None)
    name_prefix = fields.String(load_default=None, validate=[validate.Length(max=128), _check_text])
