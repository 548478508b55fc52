"""Property-based tests: round trips, no 500 for any input, merge patch, nesting depth."""

from __future__ import annotations

import copy
import itertools
import json
import re
from collections.abc import Callable, Iterator
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qsl, quote_from_bytes, unquote

import pytest
import werkzeug.urls  # noqa: F401 - registers the "werkzeug.url_quote" codec error handler
from hypothesis import HealthCheck, assume, event, example, given, settings
from hypothesis import strategies as st

from app.api.common import encode_cursor
from app.documents.merge import merge_patch
from tests.helpers import create_application, create_configuration

API = "/api/v1"
JSON = "application/json"
MERGE_PATCH = "application/merge-patch+json"
PROBLEM = "application/problem+json"
NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
ULID = re.compile(r"[0-7][0-9A-HJKMNP-TV-Z]{25}", re.IGNORECASE)
MAX_DEPTH = 32
ABSENT = object()  # a field left out of a body
_serial = itertools.count()


def api_settings(max_examples: int) -> settings:
    """Return settings for tests whose examples share the function-scoped fixtures."""
    return settings(
        max_examples=max_examples,
        deadline=None,
        suppress_health_check=[
            HealthCheck.function_scoped_fixture,
            HealthCheck.too_slow,
            HealthCheck.data_too_large,
            HealthCheck.filter_too_much,
        ],
    )


def unique(prefix: str) -> str:
    """Return a name no other example used (tables are emptied per test, not per example)."""
    return f"{prefix}-{next(_serial)}"


# --- JSON values -----------------------------------------------------------------------

# Text jsonb can store: anything but NUL and lone surrogates.
storable_text = st.text(
    st.characters(exclude_categories=("Cs",), exclude_characters="\x00"), max_size=20
)
# Any text a JSON string can carry (NUL and lone surrogates included), some of it long.
any_char = st.characters(exclude_categories=())
any_text = st.text(any_char, max_size=40) | st.builds(
    lambda part, times: part * times, st.text(any_char, min_size=1, max_size=4), st.integers(1, 700)
)
big_ints = st.integers(-(10**50), 10**50) | st.sampled_from(
    [2**63 - 1, 2**63, -(2**63) - 1, 2**64, 10**50, -(10**50)]
)
numbers = st.integers() | big_ints | st.floats(allow_nan=False, allow_infinity=False)
scalars = st.none() | st.booleans() | numbers | storable_text


def containers(children: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """Return arrays and objects of `children`."""
    return st.lists(children, max_size=4) | st.dictionaries(storable_text, children, max_size=4)


def depth(value: Any) -> int:
    """Count the containers on the deepest path of a JSON value."""
    if isinstance(value, dict):
        value = list(value.values())
    elif not isinstance(value, list):
        return 0
    return 1 + max(map(depth, value), default=0)


json_values = st.recursive(scalars, containers, max_leaves=20)
config_objects = st.dictionaries(storable_text, json_values, max_size=5).filter(
    lambda config: depth(config) <= MAX_DEPTH
)


def _wrap(draw: Callable[..., Any], inner: Any, kind: str) -> Any:
    """Put `inner` into a new array or object among shallow siblings."""
    if kind == "mixed":
        kind = draw(st.sampled_from(["array", "object"]))
    shallow = scalars | st.just([]) | st.just({})
    if kind == "array":
        siblings = draw(st.lists(shallow, max_size=2))
        siblings.insert(draw(st.integers(0, len(siblings))), inner)
        return siblings
    siblings = draw(st.dictionaries(storable_text, shallow, max_size=2))
    siblings[draw(storable_text.filter(lambda key: key not in siblings))] = inner
    return siblings


@st.composite
def configs_of_depth(draw: Callable[..., Any], levels: int, kind: str) -> dict[str, Any]:
    """Draw a config whose deepest path holds exactly `levels` containers, itself included."""
    inner = draw(st.lists(scalars, max_size=2) if kind == "array" else containers(scalars))
    for _ in range(levels - 2):
        inner = _wrap(draw, inner, kind)
    return _wrap(draw, inner, "object")


# Configs nested 2..32 levels deep (config_objects rarely go past a few levels).
deep_configs = st.integers(2, MAX_DEPTH).flatmap(lambda levels: configs_of_depth(levels, "mixed"))


def strings_in(value: Any) -> Iterator[str]:
    """Yield every string of a JSON value, object keys included."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield key
            yield from strings_in(item)
    elif isinstance(value, list):
        for item in value:
            yield from strings_in(item)


def storable(text: str) -> bool:
    """Tell whether PostgreSQL can store `text` (no NUL, no lone surrogate)."""
    return "\x00" not in text and not any("\ud800" <= char <= "\udfff" for char in text)


def transported(value: Any) -> Any:
    """Return `value` as the service reads it from our JSON text (surrogate pairs join)."""
    return json.loads(json.dumps(value))


def jsonb_key(value: Any) -> Any:
    """Return a value equal for two JSON values exactly when jsonb holds them equal."""
    if isinstance(value, dict):
        return {key: jsonb_key(item) for key, item in value.items()}
    if isinstance(value, list):
        return [jsonb_key(item) for item in value]
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return ("number", Decimal(repr(value)) if isinstance(value, float) else Decimal(value))
    return (type(value).__name__, value)


def kept(sent: Any, got: Any) -> bool:
    """Tell whether `got` (read with parse_float=Decimal) is `sent` as jsonb keeps it."""
    # Same structure, keys, strings, booleans and nulls; numbers keep their exact decimal
    # value; an integer stays an integer; a float stays a fraction unless its shortest form
    # has a positive exponent (numeric writes 1e+16 as 10000000000000000). numeric has no
    # negative zero, so -0.0 comes back as 0.0: Decimal("-0.0") == Decimal("0.0").
    if isinstance(sent, dict):
        return (
            isinstance(got, dict)
            and got.keys() == sent.keys()
            and all(kept(item, got[key]) for key, item in sent.items())
        )
    if isinstance(sent, list):
        return isinstance(got, list) and len(got) == len(sent) and all(map(kept, sent, got))
    if isinstance(sent, float):
        text = repr(sent)
        as_int = type(got) is int and "e+" in text
        return (isinstance(got, Decimal) or as_int) and got == Decimal(text)
    return type(got) is type(sent) and got == sent


def strict(value: Any) -> str:
    """Return JSON text that tells True from 1, 1 from 1.0 and -0.0 from 0.0."""
    return json.dumps(value, sort_keys=True)


# --- talking to the service ------------------------------------------------------------


def assert_answered(response: Any) -> None:
    """Assert no 5xx, and that every 4xx is RFC 9457 problem details."""
    assert response.status_code < 500, response.get_data(as_text=True)
    if response.status_code >= 400:
        assert response.mimetype == PROBLEM, response.headers
        problem = response.get_json()
        assert problem["status"] == response.status_code
        assert problem["type"] == "about:blank" and problem["title"]


def call(client: Any, method: str, path: str, body: Any = None, content_type: Any = JSON) -> Any:
    """Send `body` as JSON text serialized here (bytes go as they are); check the answer."""
    if body is not None and not isinstance(body, bytes):
        body = json.dumps(body)
    response = client.open(path, method=method, data=body, content_type=content_type)
    event(f"{method} {response.status_code}")
    assert_answered(response)
    return response


def read(response: Any) -> Any:
    """Parse an answer's body keeping the form of numbers (fractions as Decimal)."""
    return json.loads(response.get_data(as_text=True), parse_float=Decimal)


def errors(response: Any) -> set[str]:
    """Return the fields a 422 answer names."""
    assert response.status_code == 422, response.get_data(as_text=True)
    return set(response.get_json()["errors"])


@pytest.fixture
def application(client: Any) -> dict[str, Any]:
    """One application shared by every example of a test."""
    return create_application(client, unique("app"))


@pytest.fixture
def configuration(client: Any, application: dict[str, Any]) -> dict[str, Any]:
    """One configuration shared by every example of a test."""
    return create_configuration(client, application["id"], unique("conf"), {"a": 1})


# --- 1. round trip ---------------------------------------------------------------------

EDGES = {
    "int": 1,
    "float": 1.0,
    "bool": True,
    "zero": -0.0,
    "big": 10**50,
    "u64": 2**64,
    "e16": 1e16,
    "tiny": 5e-324,
    "max": 1.7976931348623157e308,
    "": {"": [], "{}": {}},
    "ключ 🔑": "значение\n\t\x01\u2028\uffff😀",
    "null": None,
}


def assert_kept(sent: Any, response: Any) -> dict[str, Any]:
    """Assert the answered configuration holds `sent` as jsonb keeps it; return the answer."""
    answer = read(response)
    assert kept(sent, answer["config"]), (sent, answer["config"])
    return answer


@api_settings(120)
@given(config=config_objects | deep_configs, replacement=config_objects)
@example(config=EDGES, replacement={**EDGES, "int": 1.0, "float": 1, "zero": 0, "e16": 10**16})
@example(config={"a": 1, "b": [1.0, 0.0]}, replacement={"a": 1.0, "b": [1, -0.0]})
def test_config_round_trip(client, application, config, replacement):
    name = unique("conf")
    body = {"application_id": application["id"], "name": name, "config": config}
    created = assert_kept(config, call(client, "POST", f"{API}/configurations", body))
    by_id = f"{API}/configurations/{created['id']}"
    by_name = f"{API}/applications/by-name/{application['name']}/configurations/{name}"
    assert_kept(config, call(client, "GET", by_id))
    assert_kept(config, call(client, "GET", by_name))
    replaced = call(client, "PUT", by_id, {"name": name, "config": replacement})
    # jsonb holds 1 and 1.0 equal: such a PUT changes nothing and keeps the stored form.
    unchanged = jsonb_key(replacement) == jsonb_key(config)
    expected = config if unchanged else replacement
    assert assert_kept(expected, replaced)["version"] == (1 if unchanged else 2)
    assert_kept(expected, call(client, "GET", by_id))
    assert_kept(expected, call(client, "GET", by_name))


bad_text = st.builds(
    lambda before, bad, after: before + bad + after,
    st.text(any_char, max_size=3),
    st.sampled_from(["\x00", "\ud800", "\udbff", "\udc00", "\udfff"]),
    st.text(any_char, max_size=3),
)
spots = st.sampled_from(
    [lambda bad: bad, lambda bad: [0, bad], lambda bad: {bad: 0}, lambda bad: {"x": [{"y": bad}]}]
)


@st.composite
def unstorable_configs(draw: Callable[..., Any]) -> dict[str, Any]:
    """Draw a config holding NUL or a lone surrogate somewhere, in a key or a value."""
    config = draw(st.dictionaries(storable_text, json_values, max_size=3))
    config[draw(storable_text | bad_text)] = draw(spots)(draw(bad_text))
    assume(not all(map(storable, strings_in(transported(config)))))
    return config


@api_settings(100)
@given(config=unstorable_configs())
@example(config={"a": "\x00"})
@example(config={"\ud800": 1})
def test_unstorable_text_in_config_is_refused(client, application, configuration, config):
    name = unique("conf")
    body = {"application_id": application["id"], "name": name, "config": config}
    assert errors(call(client, "POST", f"{API}/configurations", body)) == {"config"}
    missing = f"{API}/applications/by-name/{application['name']}/configurations/{name}"
    assert call(client, "GET", missing).status_code == 404
    path = f"{API}/configurations/{configuration['id']}"
    assert errors(call(client, "PUT", path, {"name": name, "config": config})) == {"config"}
    assert errors(call(client, "PATCH", path, {"config": config})) == {"config"}
    assert read(call(client, "GET", path))["version"] == 1


# --- 2. names and comments -------------------------------------------------------------

valid_names = st.from_regex(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}", fullmatch=True)
not_strings = st.none() | st.booleans() | st.integers() | st.lists(st.integers(), max_size=2)
# About half the names and most comments are valid, so both answers are exercised.
names = valid_names | st.one_of(
    any_text,
    valid_names.map(lambda name: name + "\n"),
    valid_names.map(lambda name: " " + name),
    st.integers(126, 130).map(lambda length: "a" * length),
    not_strings,
    st.just(ABSENT),
)
comments = st.one_of(
    st.none() | st.just(ABSENT) | storable_text,
    st.integers(1020, 1030).map(lambda length: "c" * length),
    any_text,
    not_strings,
)


def valid_name(value: Any) -> bool:
    """Tell whether the service accepts `value` as a name."""
    return isinstance(value, str) and len(value) <= 128 and NAME.fullmatch(value) is not None


def valid_comments(value: Any) -> bool:
    """Tell whether the service accepts `value` as comments."""
    return value is None or (isinstance(value, str) and len(value) <= 1024 and storable(value))


def write_target(
    configuration: dict[str, Any], resource: str, method: str
) -> tuple[str, dict[str, Any]]:
    """Return the path of a write to `resource` and the body fields it needs besides names."""
    if resource == "applications":
        suffix = "" if method == "POST" else f"/{configuration['application_id']}"
        return f"{API}/applications{suffix}", {}
    if method == "PATCH":
        return f"{API}/configurations/{configuration['id']}", {}
    if method == "PUT":
        return f"{API}/configurations/{configuration['id']}", {"config": {}}
    fields = {"application_id": configuration["application_id"], "config": {}}
    return f"{API}/configurations", fields


@pytest.mark.parametrize("method", ["POST", "PUT", "PATCH"])
@pytest.mark.parametrize("resource", ["applications", "configurations"])
@api_settings(120)
@given(name=names, comment=comments)
@example(name="a" * 128, comment="c" * 1024)
@example(name="a" * 129, comment="c" * 1025)
@example(name="name\n", comment="\x00")
@example(name="\ud83d\ude00", comment="\ud83d\ude00")
def test_names_and_comments(client, configuration, resource, method, name, comment):
    path, body = write_target(configuration, resource, method)
    sent = {"name": name, "comments": comment}
    body.update({field: value for field, value in sent.items() if value is not ABSENT})
    seen = {field: transported(value) for field, value in sent.items() if value is not ABSENT}
    bad = {
        field
        for field, ok in (("name", valid_name), ("comments", valid_comments))
        if field in seen and not ok(seen[field])
    }
    if method != "PATCH" and "name" not in seen:
        bad.add("name")
    response = call(client, method, path, body)
    if bad:
        assert errors(response) == bad
        return
    assert response.status_code == (201 if method == "POST" else 200), response.get_json()
    answer = response.get_json()
    expected = {"comments": None, **seen} if method != "PATCH" else seen
    assert {field: answer[field] for field in expected} == expected
    if method == "POST":
        call(client, "DELETE", f"{path}/{answer['id']}")


# --- 3. no 500 for any request ---------------------------------------------------------

json_anything = st.recursive(
    st.none() | st.booleans() | numbers | any_text,
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(any_text, children, max_size=3)
    ),
    max_leaves=10,
)
raw_bodies = st.one_of(
    st.binary(max_size=100),
    st.sampled_from([b"", b"NaN", b"[Infinity]", b'{"a": -Infinity}', b"1e999", b'{"a":', b"\xff"]),
    st.integers(1, 3000).map(lambda levels: b"[" * levels + b"]" * levels),
    json_anything.map(lambda value: json.dumps(value).encode()),
)
content_types = st.sampled_from(
    [JSON, "application/json; charset=utf-8", MERGE_PATCH, "text/plain", None, "application/JSON"]
)
ENDPOINTS = [
    ("POST", "applications"),
    ("PUT", "applications"),
    ("PATCH", "applications"),
    ("POST", "configurations"),
    ("PUT", "configurations"),
    ("PATCH", "configurations"),
]
# The fields each body may carry (configurations also take `schema`).
FIELDS = {
    ("applications", "POST"): {"name", "comments"},
    ("applications", "PUT"): {"name", "comments"},
    ("applications", "PATCH"): {"name", "comments"},
    ("configurations", "POST"): {"application_id", "name", "comments", "config", "schema"},
    ("configurations", "PUT"): {"application_id", "name", "comments", "config", "schema"},
    ("configurations", "PATCH"): {"name", "comments", "config", "schema"},
}


field_names = st.sampled_from(
    ["id", "application_id", "name", "comments", "config", "version", "configuration_ids"]
    + ["created_at", "updated_at", "Name", "name ", "schema"]
)


def accepted_type(content_type: str | None, method: str) -> bool:
    """Tell whether the service accepts a body of `content_type` on `method`."""
    mimetype = (content_type or "").split(";")[0].strip().lower()
    return mimetype == JSON or (method == "PATCH" and mimetype == MERGE_PATCH)


def cleanup(client: Any, response: Any) -> None:
    """Delete what a successful POST created, so names stay free for the next example."""
    if response.status_code == 201:
        call(client, "DELETE", response.headers["Location"])


@pytest.mark.parametrize(("method", "resource"), ENDPOINTS)
@api_settings(100)
@given(body=raw_bodies, content_type=content_types)
def test_any_body(client, configuration, method, resource, body, content_type):
    path, _ = write_target(configuration, resource, method)
    response = call(client, method, path, body, content_type)
    assert (response.status_code == 415) is not accepted_type(content_type, method)
    cleanup(client, response)


@pytest.mark.parametrize(("method", "resource"), ENDPOINTS)
@api_settings(80)
@given(extra=st.dictionaries(field_names | any_text, json_anything, min_size=1, max_size=3))
@example(extra={"id": "01ARZ3NDEKTSV4RRFFQ69G5FAV"})
@example(extra={"version": 1, "created_at": None})
def test_extra_fields_are_refused(client, configuration, method, resource, extra):
    path, body = write_target(configuration, resource, method)
    body = {"name": unique("n"), **body, **extra}
    unknown = set(transported(body)) - FIELDS[resource, method]
    response = call(client, method, path, body)
    if unknown:
        assert unknown <= errors(response)
    cleanup(client, response)


query_keys = st.sampled_from([b"limit", b"cursor", b"name_prefix", b"cascade"]) | st.binary(
    max_size=8
)
query_values = st.one_of(
    st.binary(max_size=30),
    any_text.map(lambda text: text.encode("utf-8", "surrogatepass")),
    st.integers(-5, 600).map(lambda number: str(number).encode()),
    st.text(max_size=30).map(lambda key: encode_cursor(key).encode()),
    st.from_regex(ULID, fullmatch=True).map(lambda key: encode_cursor(key).encode()),
)


@pytest.mark.parametrize("listing", ["applications", "configurations"])
@api_settings(150)
@given(query=st.lists(st.tuples(query_keys, query_values), max_size=4))
@example(query=[(b"name_prefix", b"%_")])
@example(query=[(b"limit", b"1"), (b"cursor", b"")])
def test_list_query_strings(client, configuration, listing, query):
    path = f"{API}/applications"
    if listing == "configurations":
        path += f"/{configuration['application_id']}/configurations"
    qs = "&".join(
        f"{quote_from_bytes(k, safe='')}={quote_from_bytes(v, safe='')}" for k, v in query
    )
    response = call(client, "GET", f"{path}?{qs}")
    if response.status_code == 400:
        assert set(response.get_json()["errors"]) <= {"limit", "cursor", "name_prefix"}
        return
    assert response.status_code == 200
    args = dict(reversed(parse_qsl(qs, keep_blank_values=True, errors="werkzeug.url_quote")))
    items = response.get_json()["items"]
    assert len(items) <= int(args.get("limit", 50))
    assert all(item["name"].startswith(args.get("name_prefix", "")) for item in items)


segments = st.one_of(
    st.binary(max_size=40),
    any_text.map(lambda text: text.encode("utf-8", "surrogatepass")),
    st.from_regex(r"[0-9A-Za-z]{26}", fullmatch=True).map(str.encode),
)
# Each path template with the methods it serves; others may answer 405.
ID_PATHS = {
    "applications/{}": {"GET", "PUT", "PATCH", "DELETE"},
    "configurations/{}": {"GET", "PUT", "PATCH", "DELETE"},
    "applications/{}/configurations": {"GET"},
}


@pytest.mark.parametrize("template", ID_PATHS)
@pytest.mark.parametrize("method", ["GET", "PUT", "PATCH", "DELETE"])
@api_settings(40)
@given(segment=segments)
def test_any_id_in_path(client, configuration, template, method, segment):
    text = unquote(quote_from_bytes(segment, safe=""), errors="replace")
    path = f"{API}/" + template.format(quote_from_bytes(segment, safe=""))
    response = call(client, method, path, {} if method in ("PUT", "PATCH") else None)
    if method in ID_PATHS[template] and text and "/" not in text and not ULID.fullmatch(text):
        assert response.status_code == 404


@pytest.mark.parametrize("method", ["GET", "DELETE"])
@api_settings(100)
@given(first=segments, second=segments)
@example(first=b"a\x00b", second=b"x")
def test_any_name_in_path(client, configuration, method, first, second):
    app_name = quote_from_bytes(first, safe="")
    for path in (
        f"{API}/applications/by-name/{app_name}",
        f"{API}/applications/by-name/{app_name}/configurations/{quote_from_bytes(second, safe='')}",
    ):
        call(client, method, path)


@api_settings(50)
@given(data=st.data())
def test_ids_in_any_case(client, configuration, data):
    def any_case(value: str) -> str:
        return "".join(data.draw(st.sampled_from([c.lower(), c.upper()])) for c in value)

    answer = read(call(client, "GET", f"{API}/configurations/{any_case(configuration['id'])}"))
    assert answer["id"] == configuration["id"]
    listing = f"{API}/applications/{any_case(configuration['application_id'])}/configurations"
    assert [item["id"] for item in read(call(client, "GET", listing))["items"]] == [
        configuration["id"]
    ]


# --- 4. merge patch --------------------------------------------------------------------

merge_keys = st.sampled_from(["a", "b", "c"]) | storable_text
merge_values = st.recursive(
    scalars,
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(merge_keys, children, max_size=4)
    ),
    max_leaves=12,
)
null_free = st.recursive(
    st.booleans() | numbers | storable_text,
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(merge_keys, children, max_size=4)
    ),
    max_leaves=12,
)


def without_nulls(value: Any) -> Any:
    """Return `value` with the null members of its objects dropped (arrays are kept whole)."""
    if not isinstance(value, dict):
        return value
    return {key: without_nulls(item) for key, item in value.items() if item is not None}


def leaves(value: Any, path: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], Any]]:
    """Yield (path, value) for every member reached through objects only."""
    for key, item in value.items():
        yield (*path, key), item
        if isinstance(item, dict):
            yield from leaves(item, (*path, key))


RFC7386_EXAMPLES = [
    ({"a": "b"}, {"a": "c"}, {"a": "c"}),
    ({"a": "b"}, {"b": "c"}, {"a": "b", "b": "c"}),
    ({"a": "b"}, {"a": None}, {}),
    ({"a": "b", "b": "c"}, {"a": None}, {"b": "c"}),
    ({"a": ["b"]}, {"a": "c"}, {"a": "c"}),
    ({"a": "c"}, {"a": ["b"]}, {"a": ["b"]}),
    ({"a": {"b": "c"}}, {"a": {"b": "d", "c": None}}, {"a": {"b": "d"}}),
    ({"a": [{"b": "c"}]}, {"a": [1]}, {"a": [1]}),
    (["a", "b"], ["c", "d"], ["c", "d"]),
    ({"a": "b"}, ["c"], ["c"]),
    ({"a": "foo"}, None, None),
    ({"a": "foo"}, "bar", "bar"),
    ({"e": None}, {"a": 1}, {"e": None, "a": 1}),
    ([1, 2], {"a": "b", "c": None}, {"a": "b"}),
    ({}, {"a": {"bb": {"ccc": None}}}, {"a": {"bb": {}}}),
]


@pytest.mark.parametrize(("target", "patch", "result"), RFC7386_EXAMPLES)
def test_merge_patch_rfc7386_examples(target, patch, result):
    assert strict(merge_patch(target, patch)) == strict(result)


@settings(max_examples=300)
@given(target=merge_values)
def test_patching_with_own_content_changes_nothing(target):
    assert strict(merge_patch(target, without_nulls(target))) == strict(target)


@settings(max_examples=300)
@given(target=merge_values, patch=merge_values)
def test_merge_patch_is_idempotent_and_pure(target, patch):
    before = strict((target, patch))
    once = merge_patch(target, patch)
    assert strict(merge_patch(once, patch)) == strict(once)
    assert strict((target, patch)) == before


@settings(max_examples=300)
@given(target=merge_values, patch=st.dictionaries(merge_keys, null_free, max_size=4))
def test_null_free_patch_leaves_are_all_in_the_result(target, patch):
    result = merge_patch(copy.deepcopy(target), patch)
    for path, item in leaves(patch):
        found = result
        for key in path:
            found = found[key]
        assert isinstance(found, dict) if isinstance(item, dict) else strict(found) == strict(item)


@api_settings(150)
@given(
    target=st.dictionaries(merge_keys, merge_values, max_size=4),
    patch=st.dictionaries(merge_keys, merge_values, max_size=4),
    content_type=st.sampled_from([JSON, MERGE_PATCH]),
)
@example(target={"a": 1, "b": {"c": 1.0}}, patch={"b": {"c": 1}}, content_type=JSON)
def test_patch_applies_merge_patch(client, application, target, patch, content_type):
    body = {"application_id": application["id"], "name": unique("conf"), "config": target}
    merged = merge_patch(target, patch)
    assume(max(depth(target), depth(patch), depth(merged)) <= MAX_DEPTH)
    created = read(call(client, "POST", f"{API}/configurations", body))
    path = f"{API}/configurations/{created['id']}"
    response = call(client, "PATCH", path, {"config": patch}, content_type)
    unchanged = jsonb_key(merged) == jsonb_key(target)
    expected = target if unchanged else merged
    assert assert_kept(expected, response)["version"] == (1 if unchanged else 2)
    assert_kept(expected, call(client, "GET", path))


# --- 5. nesting depth ------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["object", "array", "mixed"])
@api_settings(25)
@given(data=st.data())
def test_depth_32_is_accepted_and_33_refused(client, configuration, kind, data):
    deepest = data.draw(configs_of_depth(MAX_DEPTH, kind), label="deepest")
    too_deep = data.draw(configs_of_depth(MAX_DEPTH + 1, kind), label="too_deep")
    assert (depth(deepest), depth(too_deep)) == (MAX_DEPTH, MAX_DEPTH + 1)
    body = {"application_id": configuration["application_id"], "name": unique("conf")}
    assert errors(call(client, "POST", f"{API}/configurations", {**body, "config": too_deep})) == {
        "config"
    }
    created = assert_kept(
        deepest, call(client, "POST", f"{API}/configurations", {**body, "config": deepest})
    )
    path = f"{API}/configurations/{created['id']}"
    replace = {"name": body["name"], "config": too_deep}
    assert errors(call(client, "PUT", path, replace)) == {"config"}
    assert errors(call(client, "PATCH", path, {"config": too_deep})) == {"config"}
    assert_kept(deepest, call(client, "GET", path))
    patch = call(
        client, "PATCH", f"{API}/configurations/{configuration['id']}", {"config": deepest}
    )
    assert patch.status_code == 200
