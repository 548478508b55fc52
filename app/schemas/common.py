"""Fields and rules the resource schemas share."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any

from marshmallow import Schema, ValidationError, fields, validate

NAME_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
ULID_REGEX = "[0-7][0-9A-HJKMNP-TV-Za-hjkmnp-tv-z]{25}"  # a ULID in either case
ULID_PATTERN = re.compile(ULID_REGEX)
MAX_CONFIG_DEPTH = 32


NAME_RULE = (
    "Must be 1-128 characters: a letter or digit, then letters, digits, '.', '_' or '-'"
    f" (^{NAME_PATTERN.pattern}$)."
)


def _check_name(value: str) -> None:
    if not NAME_PATTERN.fullmatch(value):  # fullmatch: a trailing newline is invalid
        raise ValidationError(NAME_RULE)


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
        return timestamp(value)


def timestamp(value: datetime | None) -> str | None:
    """Write a time as an RFC 3339 UTC timestamp with a Z suffix and microseconds."""
    if value is None:
        return None
    return value.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class Name(fields.String):
    """An application, configuration or token name: 1-128 characters of NAME_PATTERN."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(validate=[validate.Length(1, 128), _check_name], **kwargs)


def Comments(**kwargs: Any) -> fields.String:  # noqa: N802
    """Return a field for free-text comments (null allowed)."""
    rules: list[Callable[[Any], Any]] = [validate.Length(max=1024), _check_text]
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
