"""A JSON Schema per configuration, checked on every write."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from marshmallow import ValidationError

from app.documents.refs import LOOP
from app.documents.schema import (
    MAX_SCHEMA_BYTES,
    check_config,
    check_schema,
    violations,
)
from tests.helpers import create_application, create_configuration

API = "/api/v1/configurations"
SERVER = {
    "type": "object",
    "required": ["host"],
    "properties": {
        "host": {"type": "string"},
        "port": {"type": "integer", "minimum": 1, "maximum": 65535},
        "a/b": {"type": "string"},
        "m~n": {"type": "string"},
        "pool": {"type": "object", "properties": {"max": {"type": "integer", "minimum": 1}}},
    },
}


@pytest.fixture
def application(client: Any) -> dict[str, Any]:
    return create_application(client)


@pytest.fixture
def typed(client: Any, application: dict[str, Any]) -> dict[str, Any]:
    """A configuration at version 1 whose config satisfies SERVER."""
    config = {"host": "db1", "port": 5432}
    return create_configuration(client, application["id"], config=config, schema=SERVER)


def post(client: Any, application: dict[str, Any], **fields: Any) -> Any:
    body = {"application_id": application["id"], "name": "database", "config": {}, **fields}
    return client.post(API, json=body)


def errors(response: Any, status: int = 422) -> dict[str, list[str]]:
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == "application/problem+json"
    return response.get_json()["errors"]


def versions(db: Any, configuration_id: str) -> list[dict[str, Any]]:
    with db.cursor() as cur:
        cur.execute(
            "SELECT version, config, schema FROM configuration_versions"
            " WHERE configuration_id = %s ORDER BY version",
            (configuration_id,),
        )
        return cur.fetchall()


# Setting a schema


def test_schema_is_part_of_the_representation_and_of_each_version(client, db, typed):
    assert typed["schema"] == SERVER
    assert client.get(f"{API}/{typed['id']}").get_json()["schema"] == SERVER
    assert client.get(f"{API}/{typed['id']}/versions/1").get_json()["schema"] == SERVER
    assert [row["schema"] for row in versions(db, typed["id"])] == [SERVER]


def test_schema_defaults_to_null(client, application):
    configuration = create_configuration(client, application["id"], config={"any": [1]})
    assert configuration["schema"] is None


@pytest.mark.parametrize("schema", [True, False, {}, {"type": "object"}])
def test_boolean_and_empty_schemas_are_schemas(client, application, schema):
    response = post(client, application, schema=schema, config={})
    if schema is False:  # the false schema accepts nothing at all
        assert errors(response) == {"config": [": False schema does not allow {}"]}
    else:
        assert response.status_code == 201
        assert response.get_json()["schema"] == schema


def test_every_violation_is_reported_with_its_json_pointer_in_order(client, application):
    config = {"port": 0, "a/b": 1, "m~n": 2, "pool": {"max": "x"}}
    response = post(client, application, schema=SERVER, config=config)
    assert errors(response) == {
        "config": [
            ": 'host' is a required property",
            "/a~1b: 1 is not of type 'string'",
            "/m~0n: 2 is not of type 'string'",
            "/pool/max: 'x' is not of type 'integer'",
            "/port: 0 is less than the minimum of 1",
        ]
    }


def test_array_items_are_pointed_at_by_index(client, application):
    schema = {"properties": {"hosts": {"type": "array", "items": {"type": "string"}}}}
    response = post(client, application, schema=schema, config={"hosts": ["a", 2, "c", None]})
    assert errors(response)["config"] == [
        "/hosts/1: 2 is not of type 'string'",
        "/hosts/3: None is not of type 'string'",
    ]


def test_false_subschemas_are_pointed_at_too(client, application):
    schema = {
        "properties": {"a/b": False, "l": {"prefixItems": [True, False]}},
        "patternProperties": {"^x": {"not": {}}},
        "additionalProperties": {"properties": {"deep": False}},
    }
    config = {"a/b": 1, "l": [1, 2], "x1": None, "other": {"deep": []}}
    assert errors(post(client, application, schema=schema, config=config))["config"] == [
        "/a~1b: False schema does not allow 1",
        "/l/1: False schema does not allow 2",
        "/other/deep: False schema does not allow []",
        "/x1: False schema does not allow None",
    ]


@pytest.mark.parametrize(
    ("schema", "message"),
    [
        ({"type": "strin"}, "/type: 'strin' is not valid under any of the given schemas"),
        ({"properties": {"a": {"minimum": "1"}}}, "/properties/a/minimum: '1' is not of type"),
        ({"pattern": "("}, "/pattern: '(' is not a 'regex'"),
        ({"required": "host"}, "/required: 'host' is not of type 'array'"),
        (1, "Must be a JSON Schema: an object or a boolean."),
        ("object", "Must be a JSON Schema: an object or a boolean."),
        ([{"type": "object"}], "Must be a JSON Schema: an object or a boolean."),
        ({"$schema": "http://json-schema.org/draft-07/schema#"}, "/$schema: Only https://json"),
        ({"$ref": "#/$defs/missing"}, "/$ref: Cannot resolve '#/$defs/missing'"),
        ({"items": {"$ref": "#nowhere"}}, "/items/$ref: Cannot resolve '#nowhere'"),
    ],
)
def test_a_schema_that_is_not_a_draft_2020_12_schema_gets_422(client, application, schema, message):
    [got] = errors(post(client, application, schema=schema))["schema"]
    assert got.startswith(message)


def test_a_schema_nested_too_deeply_or_too_large_gets_422(client, application):
    deep: dict[str, Any] = {}
    for _ in range(40):
        deep = {"not": deep}
    assert "schema" in errors(post(client, application, schema=deep))
    big = {"enum": ["x" * 1000] * (MAX_SCHEMA_BYTES // 1000 + 1)}
    [message] = errors(post(client, application, schema=big))["schema"]
    assert message == f"Must be at most {MAX_SCHEMA_BYTES} bytes as JSON."


def test_a_schema_that_refers_to_itself_without_end_gets_422(client, application):
    response = post(client, application, schema={"$ref": "#"})
    assert errors(response) == {"schema": [f": {LOOP}"]}


def test_local_references_resolve(client, application):
    schema = {
        "$id": "https://example.invalid/root",
        "$defs": {
            "port": {"type": "integer", "minimum": 1},
            "name": {"$anchor": "name", "type": "string"},
            "embedded": {"$id": "embedded", "type": "boolean"},
        },
        "properties": {
            "port": {"$ref": "#/$defs/port"},
            "host": {"$ref": "#name"},
            "tls": {"$ref": "embedded"},
            "node": {"$ref": "#"},  # recursion through data is fine: data is finite
        },
    }
    config = {"port": 0, "host": 1, "tls": "yes", "node": {"port": -1}}
    assert errors(post(client, application, schema=schema, config=config))["config"] == [
        "/host: 1 is not of type 'string'",
        "/node/port: -1 is less than the minimum of 1",
        "/port: 0 is less than the minimum of 1",
        "/tls: 'yes' is not of type 'boolean'",
    ]
    config = {"port": 1, "host": "h", "tls": True, "node": {}}
    assert post(client, application, schema=schema, config=config).status_code == 201


@pytest.fixture
def listener() -> Iterator[tuple[socket.socket, int]]:
    """A TCP socket listening on the loopback: a fetch of a remote $ref would connect to it."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(8)
        sock.setblocking(False)
        yield sock, sock.getsockname()[1]


def connections(sock: socket.socket) -> int:
    """Return how many connections arrived (accepting each)."""
    arrived = 0
    while True:
        try:
            sock.accept()[0].close()
        except BlockingIOError:
            return arrived
        arrived += 1


def remote_schemas(port: int) -> list[Any]:
    url = f"http://127.0.0.1:{port}"
    return [
        {"$ref": f"{url}/schema.json"},
        {"properties": {"a": {"$ref": f"{url}/schema.json#/$defs/a"}}},
        {"$id": f"{url}/root.json", "properties": {"a": {"$ref": "other.json"}}},
        {"$dynamicRef": f"{url}/schema.json#meta"},
        {"allOf": [{"$ref": f"{url}/"}]},
    ]


def test_a_remote_ref_gets_422_and_nothing_is_fetched(client, application, listener):
    sock, port = listener
    for schema in remote_schemas(port):
        response = post(client, application, schema=schema, config={"a": 1})
        [message] = errors(response)["schema"]
        assert "Cannot resolve" in message and "nothing is fetched" in message
        with pytest.raises(ValidationError, match="Cannot resolve"):
            check_schema(schema)
    assert connections(sock) == 0
    # the listener works: a real connection would have been seen
    socket.create_connection(("127.0.0.1", port), timeout=2).close()
    sock.setblocking(True)
    sock.settimeout(2)
    sock.accept()[0].close()


def test_validating_with_a_remote_ref_never_fetches_either(listener):
    """Even a schema that slipped past the check (it cannot) would not fetch."""
    sock, port = listener
    with pytest.raises(ValidationError, match="cannot be applied"):
        violations({"a": 1}, {"$ref": f"http://127.0.0.1:{port}/schema.json"})
    assert connections(sock) == 0


# Every write keeps config valid


def test_post_put_and_patch_configs_must_satisfy_the_schema(client, db, typed):
    cid = typed["id"]
    bad = {"host": 1}
    put = {"name": "database", "config": bad, "schema": SERVER}
    assert errors(client.put(f"{API}/{cid}", json=put)) == {
        "config": ["/host: 1 is not of type 'string'"]
    }
    patch = client.patch(f"{API}/{cid}", json={"config": {"port": 70000}})
    assert errors(patch) == {"config": ["/port: 70000 is greater than the maximum of 65535"]}
    patch = client.patch(f"{API}/{cid}", json={"config": {"host": None}})  # merge-patch delete
    assert errors(patch) == {"config": [": 'host' is a required property"]}
    assert [row["version"] for row in versions(db, cid)] == [1]


def test_setting_a_schema_checks_the_current_config(client, db, typed):
    strict = {"type": "object", "additionalProperties": False, "properties": {"host": {}}}
    response = client.patch(f"{API}/{typed['id']}", json={"schema": strict})
    assert errors(response) == {
        "config": [": Additional properties are not allowed ('port' was unexpected)"]
    }
    assert [row["version"] for row in versions(db, typed["id"])] == [1]


def test_patch_replaces_the_schema_whole(client, db, typed):
    replacement = {"properties": {"port": {"type": "integer"}}}
    for content_type in ("application/json", "application/merge-patch+json"):
        response = client.patch(
            f"{API}/{typed['id']}", json={"schema": replacement}, content_type=content_type
        )
        assert response.status_code == 200
        assert response.get_json()["schema"] == replacement  # not merged into SERVER
    assert [row["schema"] for row in versions(db, typed["id"])] == [SERVER, replacement]
    response = client.patch(f"{API}/{typed['id']}", json={"schema": None})
    assert response.get_json()["schema"] is None
    assert response.get_json()["version"] == 3


def test_put_without_schema_sets_null_and_changing_only_the_schema_is_a_version(client, typed):
    body = {"name": "database", "config": typed["config"], "schema": SERVER}
    response = client.put(f"{API}/{typed['id']}", json=body)
    assert response.get_json()["version"] == 1  # nothing changed
    body.pop("schema")
    response = client.put(f"{API}/{typed['id']}", json=body)
    assert (response.get_json()["version"], response.get_json()["schema"]) == (2, None)
    response = client.patch(f"{API}/{typed['id']}", json={"schema": True})
    assert (response.get_json()["version"], response.get_json()["schema"]) == (3, True)
    response = client.patch(f"{API}/{typed['id']}", json={"schema": True})
    assert response.get_json()["version"] == 3  # the same schema again is no change


def test_restore_keeps_the_current_schema_and_must_satisfy_it(client, db, application):
    created = create_configuration(client, application["id"], config={"port": "x"})
    cid = created["id"]
    response = client.patch(f"{API}/{cid}", json={"config": {"port": 1}, "schema": SERVER})
    assert errors(response) == {"config": [": 'host' is a required property"]}
    response = client.put(
        f"{API}/{cid}", json={"name": "database", "config": {"host": "h"}, "schema": SERVER}
    )
    assert response.get_json()["version"] == 2
    restore = client.post(f"{API}/{cid}/versions/1/restore")
    assert errors(restore)["config"] == [
        ": 'host' is a required property",
        "/port: 'x' is not of type 'integer'",
    ]
    client.patch(f"{API}/{cid}", json={"schema": None, "comments": "free"})  # version 3
    restore = client.post(f"{API}/{cid}/versions/1/restore")
    assert restore.status_code == 200
    body = restore.get_json()
    assert (body["version"], body["config"], body["comments"], body["schema"]) == (
        4,
        {"port": "x"},
        None,
        None,
    )
    five = {"config": {"host": "h", "port": None}, "schema": SERVER, "comments": "five"}
    assert client.patch(f"{API}/{cid}", json=five).get_json()["version"] == 5
    restore = client.post(f"{API}/{cid}/versions/2/restore")  # config of 2, schema kept
    assert restore.get_json()["schema"] == SERVER
    assert [row["version"] for row in versions(db, cid)] == [1, 2, 3, 4, 5, 6]


# Unit level and fuzzing


def test_check_config_without_a_schema_accepts_anything():
    check_config({"anything": [1, {"x": None}]}, None)


keywords = st.sampled_from(
    ["type", "properties", "items", "$ref", "$id", "$defs", "required", "enum", "const"]
    + ["minimum", "pattern", "allOf", "anyOf", "not", "$anchor", "$dynamicRef", "$schema"]
)
json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=8)
    | st.sampled_from(["#", "#/$defs/a", "object", "http://127.0.0.1:9/"]),
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.dictionaries(keywords | st.text(max_size=4), inner, max_size=3)
    ),
    max_leaves=12,
)


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(schema=json_values, config=st.dictionaries(st.text(max_size=3), json_values, max_size=3))
def test_any_schema_and_config_answer_201_or_422_never_500(client, application, schema, config):
    response = post(client, application, schema=schema, config=config)
    assert response.status_code in (201, 422), response.get_data(as_text=True)
    if response.status_code == 201:
        client.delete(f"{API}/{response.get_json()['id']}")
