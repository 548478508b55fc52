"""RFC 6902 patches between versions, checked by applying them."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st

from app.documents.diff import diff, pointer, same
from tests.helpers import create_application, create_configuration

API = "/api/v1/configurations"
UNKNOWN_ID = "01ARZ3NDEKTSV4RRFFQ69G5FAV"


def exactly(value: Any) -> str:
    """JSON text that tells 1, 1.0, true and -0.0 apart (and ignores key order)."""
    return json.dumps(value, sort_keys=True)


def applied(patch: list[dict[str, Any]], document: Any) -> Any:
    """Apply an RFC 6902 patch (add, remove, replace) strictly: a bad path raises.

    Written here rather than taken from jsonpatch 1.33, which refuses to replace an
    object's member named "-" (RFC 6901 makes "-" special in arrays only).
    """
    document = copy.deepcopy(document)
    for operation in patch:
        *parents, last = [None, *tokens(operation["path"])]
        if last is None:  # the whole document
            assert operation["op"] == "replace"
            document = copy.deepcopy(operation["value"])
            continue
        target = document
        for token in parents[1:]:
            target = target[index(target, token)]
        key = len(target) if isinstance(target, list) and last == "-" else index(target, last)
        if operation["op"] == "add" and isinstance(target, list):
            assert 0 <= key <= len(target)
            target.insert(key, copy.deepcopy(operation["value"]))
        elif operation["op"] in ("remove", "replace"):
            assert key in (range(len(target)) if isinstance(target, list) else target)
            if operation["op"] == "remove":
                del target[key]
            else:
                target[key] = copy.deepcopy(operation["value"])
        else:
            assert operation["op"] == "add"
            target[key] = copy.deepcopy(operation["value"])
    return document


def tokens(path: str) -> list[str]:
    """Split an RFC 6901 pointer into unescaped tokens ("" is the root)."""
    assert path == "" or path.startswith("/")
    return [token.replace("~1", "/").replace("~0", "~") for token in path.split("/")[1:]]


def index(container: Any, token: str) -> Any:
    """Return the key or array index a token names (array indexes: no sign, no leading 0)."""
    if isinstance(container, list):
        assert token == "0" or (token.isascii() and token.isdigit() and token[0] != "0")
        return int(token)
    assert isinstance(container, dict)
    return token


# The diff itself

scalars = (
    st.none()
    | st.booleans()
    | st.integers(-(2**70), 2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=6)
)
keys = st.text(max_size=4) | st.sampled_from(["", "/", "~", "~1", "a/b", "m~0n", "0", "-"])
json_values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(keys, inner, max_size=4),
    max_leaves=25,
)
objects = st.dictionaries(keys, json_values, max_size=5)


@settings(max_examples=300, deadline=None)
@given(source=objects, target=objects)
@example(source={"a": 1}, target={"a": True})
@example(source={"a": 1}, target={"a": 1.0})
@example(source={"a": 0.0}, target={"a": -0.0})
@example(source={"a/b": {"~": [1, 2, 3]}}, target={"a/b": {"~": [3]}, "": None})
@example(source={"x": [1, {"y": 2}]}, target={"x": {"0": 1}})
def test_applying_the_patch_to_source_gives_target_exactly(source, target):
    patch = diff(source, target)
    assert exactly(applied(patch, source)) == exactly(target)
    assert (patch == []) is same(source, target)


@given(document=objects)
def test_a_document_and_itself_differ_by_nothing(document):
    assert diff(document, json.loads(json.dumps(document))) == []


@pytest.mark.parametrize(
    ("source", "target", "patch"),
    [
        ({}, {}, []),
        ({"a": 1}, {"a": 2}, [{"op": "replace", "path": "/a", "value": 2}]),
        ({"a": 1}, {}, [{"op": "remove", "path": "/a"}]),
        ({}, {"a/b": 1}, [{"op": "add", "path": "/a~1b", "value": 1}]),
        ({"m~n": 1}, {"m~n": None}, [{"op": "replace", "path": "/m~0n", "value": None}]),
        ({"": {"x": 1}}, {"": {"x": 1, "y": 2}}, [{"op": "add", "path": "//y", "value": 2}]),
        ({"a": 1}, {"a": True}, [{"op": "replace", "path": "/a", "value": True}]),
        ({"a": [1, 2, 3]}, {"a": [1, 9]}, [
            {"op": "replace", "path": "/a/1", "value": 9},
            {"op": "remove", "path": "/a/2"},
        ]),
        ({"a": [1]}, {"a": [1, [2], 3]}, [
            {"op": "add", "path": "/a/1", "value": [2]},
            {"op": "add", "path": "/a/2", "value": 3},
        ]),
        ({"a": [1, 2, 3]}, {"a": []}, [
            {"op": "remove", "path": "/a/2"},
            {"op": "remove", "path": "/a/1"},
            {"op": "remove", "path": "/a/0"},
        ]),
        ({"a": {"b": 1}}, {"a": [1]}, [{"op": "replace", "path": "/a", "value": [1]}]),
    ],
)  # fmt: skip
def test_known_patches(source, target, patch):
    assert diff(source, target) == patch


@pytest.mark.parametrize(
    ("parts", "expected"),
    [((), ""), (("a",), "/a"), (("a/b", "c~d"), "/a~1b/c~0d"), (("", 0), "//0"), (("~1",), "/~01")],
)
def test_pointers_escape_tilde_then_slash(parts, expected):
    assert pointer(parts) == expected


# The route


@pytest.fixture
def three_versions(client: Any) -> dict[str, Any]:
    """A configuration written three times: configs c1, c2, c3 at versions 1, 2, 3."""
    application = create_application(client)
    configuration = create_configuration(client, application["id"], config={"a": 1, "l": [1]})
    cid = configuration["id"]
    client.put(f"{API}/{cid}", json={"name": "database", "config": {"a": 2, "l": [1, 2]}})
    client.patch(f"{API}/{cid}", json={"config": {"a": None, "b/c": {"d": True}}})
    versions = [client.get(f"{API}/{cid}/versions/{v}").get_json() for v in (1, 2, 3)]
    return {"id": cid, "configs": [version["config"] for version in versions]}


@pytest.mark.parametrize(("a", "b"), [(1, 2), (1, 3), (3, 1), (2, 2), (2, 1)])
def test_the_diff_of_two_versions_turns_one_into_the_other(client, three_versions, a, b):
    cid, configs = three_versions["id"], three_versions["configs"]
    response = client.get(f"{API}/{cid}/versions/{a}/diff?to={b}")
    assert response.status_code == 200
    body = response.get_json()
    assert list(body) == ["from", "to", "patch"]
    assert (body["from"], body["to"]) == (a, b)
    assert exactly(applied(body["patch"], configs[a - 1])) == exactly(configs[b - 1])
    assert (body["patch"] == []) is (a == b)


def test_to_defaults_to_the_current_version(client, three_versions):
    body = client.get(f"{API}/{three_versions['id']}/versions/1/diff").get_json()
    assert (body["from"], body["to"]) == (1, 3)
    assert body["patch"] == [
        {"op": "remove", "path": "/a"},
        {"op": "add", "path": "/l/1", "value": 2},
        {"op": "add", "path": "/b~1c", "value": {"d": True}},
    ]


def test_a_diff_only_reads(client, db, three_versions):
    client.get(f"{API}/{three_versions['id']}/versions/1/diff?to=2")
    with db.cursor() as cur:
        cur.execute("SELECT count(*) AS n FROM configuration_versions")
        assert cur.fetchone()["n"] == 3


@pytest.mark.parametrize(
    "path",
    [
        "{cid}/versions/4/diff",
        "{cid}/versions/1/diff?to=4",
        "{cid}/versions/1/diff?to=99999999999",
        "{cid}/versions/0/diff",
        "{cid}/versions/x/diff",
        f"{UNKNOWN_ID}/versions/1/diff",
        f"{UNKNOWN_ID}/versions/1/diff?to=1",
        "not-a-ulid/versions/1/diff",
    ],
)
def test_unknown_versions_or_configurations_are_404(client, three_versions, path):
    response = client.get(f"{API}/" + path.format(cid=three_versions["id"]))
    assert response.status_code == 404
    assert response.mimetype == "application/problem+json"


@pytest.mark.parametrize("to", ["0", "-1", "x", "1.0", "1e2", "", " 1", "+1", "1_0", "²"])
def test_a_to_that_is_not_a_positive_integer_is_400_naming_to(client, three_versions, to):
    response = client.get(f"{API}/{three_versions['id']}/versions/1/diff", query_string={"to": to})
    assert response.status_code == 400
    assert response.mimetype == "application/problem+json"
    assert response.get_json()["errors"] == {"to": ["Must be a positive integer."]}


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(first=objects, second=objects)
def test_any_two_stored_versions_diff_exactly(client, first, second):
    """Through PostgreSQL's jsonb and back, the patch turns one stored config into the other."""
    assume("\\u0000" not in json.dumps([first, second]))  # PostgreSQL cannot store NUL
    application = create_application(client, name="diffs")
    cid = create_configuration(client, application["id"], config=first)["id"]
    client.put(f"{API}/{cid}", json={"name": "database", "config": second})
    current = client.get(f"{API}/{cid}").get_json()["version"]  # 1 if jsonb saw no change
    source, target = (client.get(f"{API}/{cid}/versions/{v}").get_json() for v in (1, current))
    body = client.get(f"{API}/{cid}/versions/1/diff").get_json()
    assert body["to"] == current
    assert exactly(applied(body["patch"], source["config"])) == exactly(target["config"])
    client.delete(f"/api/v1/applications/{application['id']}?cascade=true")
