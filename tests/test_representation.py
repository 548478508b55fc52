"""A configuration's answer body: the hand-written serializer says what the schema says."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from app.api.representation import render
from app.schemas.configurations import ConfigurationSchema

CREATED = datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=timezone(timedelta(hours=2)))


def row(**fields: Any) -> dict[str, Any]:
    """Return a configuration row as the repository reads it (columns in table order)."""
    base = {
        "id": "01ARZ3NDEKTSV4RRFFQ69G5FAV", "application_id": "01ARZ3NDEKTSV4RRFFQ69G5FAW",
        "name": "db", "comments": None, "config": {}, "schema": None, "version": 1,
        "created_at": CREATED, "updated_at": CREATED + timedelta(microseconds=1),
    }  # fmt: skip
    return {**base, **fields}


@pytest.mark.parametrize(
    "fields",
    [
        {},
        {"comments": 'über \u2028 "quoted" \\ </script>', "version": 123456789},
        {"config": {"b": [1, 2.5, None, True, 1e300, -0.0], "a": {"é": "ü", "": {}}}},
        {"schema": {"type": "object", "required": ["pool"]}},
        {"schema": True, "config": {"x": "\x00\x1f"}},
        {"created_at": datetime(1999, 12, 31, 23, 59, 59, tzinfo=timezone.utc)},
    ],
)
def test_render_writes_what_the_schema_dumps(app, fields):
    configuration = row(**fields)
    with app.app_context():
        body = render(configuration).body
        dumped = app.json.dumps(ConfigurationSchema().dump(configuration), separators=(",", ":"))
    assert body == f"{dumped}\n".encode()
    assert list(json.loads(body)) == list(ConfigurationSchema().fields)
