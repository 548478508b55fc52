"""The edit form's generated inputs and their values, without a server."""

from __future__ import annotations

from typing import Any

import pytest
from werkzeug.datastructures import MultiDict

from app.console.forms import field_id, fields_of
from app.console.values import apply_values, sent_values, typed_values
from tests.console import CONFIG, SCHEMA

FIELDS = fields_of(SCHEMA)


def test_one_input_per_leaf_with_its_kind_and_id() -> None:
    assert [(f.pointer, f.kind, f.id) for f in FIELDS] == [
        ("/db/host", "string", "field-db-host"),
        ("/db/port", "integer", "field-db-port"),
        ("/debug", "boolean", "field-debug"),
        ("/level", "enum", "field-level"),
    ]
    assert FIELDS[1].error_id == "error-db-port"
    assert field_id("/a~1b/c") == "field-a~1b-c"


@pytest.mark.parametrize("schema", [None, True, {"type": "array"}, {"properties": []}])
def test_schemas_without_object_properties_give_no_inputs(schema: Any) -> None:
    assert fields_of(schema) == []


def test_values_are_shown_from_the_document_and_read_back_from_the_form() -> None:
    assert typed_values(CONFIG, FIELDS) == {
        "/db/host": "db1", "/db/port": "5432", "/debug": "false", "/level": '"info"',
    }  # fmt: skip
    form = MultiDict([("field:/debug", "false"), ("field:/debug", "true"), ("field:/x", "1")])
    assert sent_values(form, FIELDS) == {"/debug": "true"}


@pytest.mark.parametrize(
    ("values", "document", "errors"),
    [
        ({"/db/port": "6000"}, {**CONFIG, "db": {"host": "db1", "port": 6000}}, {}),
        ({"/db/port": ""}, {**CONFIG, "db": {"host": "db1"}}, {}),
        ({"/db/port": "5.5"}, CONFIG, {"/db/port": "Enter a whole number."}),
        ({"/db/port": "²"}, CONFIG, {"/db/port": "Enter a whole number."}),
        ({"/level": '"debug"'}, CONFIG, {"/level": "Choose one of the listed values."}),
        ({"/debug": "true"}, {**CONFIG, "debug": True}, {}),
    ],
)
def test_values_are_set_at_their_pointers(values: dict, document: dict, errors: dict) -> None:
    assert apply_values(CONFIG, FIELDS, values) == (document, errors)


def test_an_empty_input_adds_nothing_where_the_document_has_nothing() -> None:
    assert apply_values({}, FIELDS, {"/db/host": "", "/db/port": " "}) == ({}, {})


def test_an_input_never_turns_another_value_into_an_object() -> None:
    document, errors = apply_values({"db": [1]}, FIELDS, {"/db/port": "1"})
    assert document == {"db": [1]} and "raw JSON" in errors["/db/port"]
