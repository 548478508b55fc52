"""The configuration routes, their ETags and If-Match, on a real database."""

from __future__ import annotations

import json
import re
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

import pytest

from tests.helpers import (
    TIMESTAMP_RE,
    ULID_RE,
    assert_problem,
    create_application,
    create_configuration,
)

BOTH_PATHS = True  # run with FAST_PATH on and off: every answer must be alike
API = "/api/v1/configurations"
APPS = "/api/v1/applications"
UNKNOWN_ID = "01ARZ3NDEKTSV4RRFFQ69G5FAV"  # a valid ULID no test creates
FIELDS = [
    "id", "application_id", "name", "comments", "config", "schema", "version", "created_at",
    "updated_at",
]  # fmt: skip
MALFORMED_IDS = [
    "not-a-ulid",
    "01ARZ3NDEKTSV4RRFFQ69G5FA",  # 25 characters
    "81ARZ3NDEKTSV4RRFFQ69G5FAV",  # past the largest ULID
    "01ARZ3NDEKTSV4RRFFQ69G5FAU",  # U is not Crockford base32
]


def assert_current(response: Any, version: int) -> dict[str, Any]:
    """Check a 200 answer carrying one configuration at this version; return its body."""
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.headers["ETag"] == f'"{version}"'
    assert response.headers["Cache-Control"] == "no-cache"
    body = response.get_json()
    assert list(body) == FIELDS
    assert body["version"] == version
    return body


def config_rows(db: Any) -> list[dict[str, Any]]:
    """Return every configuration row, in id order."""
    with db.cursor() as cur:
        cur.execute("SELECT * FROM configurations ORDER BY id")
        return cur.fetchall()


def config_row(db: Any, configuration_id: str) -> dict[str, Any] | None:
    """Return one configuration row, or None."""
    with db.cursor() as cur:
        cur.execute("SELECT * FROM configurations WHERE id = %s", (configuration_id,))
        return cur.fetchone()


def moment(text: str) -> datetime:
    """Parse an RFC 3339 timestamp the API answered."""
    assert TIMESTAMP_RE.fullmatch(text), text
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def nested(levels: int, array: bool = False) -> dict[str, Any]:
    """Return a config `levels` containers deep, the config object itself being level 1."""
    value: Any = [] if array else {}
    for _ in range(levels - 2):
        value = [value] if array else {"k": value}
    return {"k": value}


@pytest.fixture
def application(client: Any) -> dict[str, Any]:
    """An application to hold the test's configurations."""
    return create_application(client, "billing")


@pytest.fixture
def configuration(client: Any, application: dict[str, Any]) -> dict[str, Any]:
    """A configuration at version 1."""
    return create_configuration(
        client, application["id"], "database", {"host": "db1", "pool": {"max": 20}}, comments="db"
    )


# POST /configurations


def test_create_answers_201_with_location_etag_and_body(client, db, application):
    config = {"host": "db1", "pool": {"max": 20}, "tags": ["a", 1, None, True, 1.5]}
    body = {"application_id": application["id"], "name": "database", "config": config}

    response = client.post(API, json={**body, "comments": "primary db"})

    assert response.status_code == 201
    assert response.headers["ETag"] == '"1"'
    assert response.headers["Cache-Control"] == "no-cache"
    created = response.get_json()
    assert list(created) == FIELDS
    assert ULID_RE.fullmatch(created["id"])
    assert {key: created[key] for key in body} == body
    assert (created["comments"], created["version"]) == ("primary db", 1)
    assert moment(created["created_at"]) == moment(created["updated_at"])
    assert urlsplit(response.headers["Location"]).path == f"{API}/{created['id']}"
    assert client.get(response.headers["Location"]).get_json() == created
    row = config_row(db, created["id"])
    assert (row["application_id"], row["name"], row["config"]) == (
        application["id"], "database", config
    )  # fmt: skip
    assert (row["comments"], row["version"]) == ("primary db", 1)


@pytest.mark.parametrize(
    ("extra", "stored"), [({}, None), ({"comments": None}, None), ({"comments": ""}, "")]
)
def test_create_comments(client, db, application, extra, stored):
    created = create_configuration(client, application["id"], "database", {}, **extra)

    assert created["comments"] == stored
    assert config_row(db, created["id"])["comments"] == stored


def test_create_accepts_lower_case_application_id(client, db, application):
    created = create_configuration(client, application["id"].lower(), "database", {"a": 1})

    assert created["application_id"] == application["id"]
    assert config_row(db, created["id"])["application_id"] == application["id"]


@pytest.mark.parametrize("config", [[], [1], "x", "", 1, 1.5, True, None])
def test_create_refuses_config_that_is_not_an_object(client, db, application, config):
    body = {"application_id": application["id"], "name": "database", "config": config}

    assert "config" in assert_problem(client.post(API, json=body), 422)["errors"]
    assert config_rows(db) == []


@pytest.mark.parametrize("missing", ["application_id", "name", "config"])
def test_create_refuses_missing_required_fields(client, db, application, missing):
    body = {"application_id": application["id"], "name": "database", "config": {}}
    del body[missing]

    assert missing in assert_problem(client.post(API, json=body), 422)["errors"]
    assert config_rows(db) == []


@pytest.mark.parametrize(
    "application_id", [UNKNOWN_ID, UNKNOWN_ID.lower(), "nope", "", 123, None, *MALFORMED_IDS]
)
def test_create_refuses_unknown_or_malformed_application(client, db, application, application_id):
    body = {"application_id": application_id, "name": "database", "config": {}}

    assert "application_id" in assert_problem(client.post(API, json=body), 422)["errors"]
    assert config_rows(db) == []


def test_create_duplicate_name_in_same_application_conflicts(client, db, application):
    create_configuration(client, application["id"], "database", {"a": 1})
    body = {"application_id": application["id"], "name": "database", "config": {"a": 2}}

    assert_problem(client.post(API, json=body), 409)
    assert [row["config"] for row in config_rows(db)] == [{"a": 1}]


def test_create_same_name_in_another_application(client, db, application):
    other = create_application(client, "other")
    first = create_configuration(client, application["id"], "database", {"a": 1})

    second = create_configuration(client, other["id"], "database", {"a": 2})

    assert first["id"] != second["id"]
    assert [(row["application_id"], row["config"]) for row in config_rows(db)] == [
        (application["id"], {"a": 1}),
        (other["id"], {"a": 2}),
    ]


@pytest.mark.parametrize("array", [False, True], ids=["objects", "arrays"])
def test_create_accepts_config_nested_32_levels(client, db, application, array):
    config = nested(32, array)

    created = create_configuration(client, application["id"], "deep", config)

    assert created["config"] == config
    assert config_row(db, created["id"])["config"] == config


@pytest.mark.parametrize("array", [False, True], ids=["objects", "arrays"])
def test_create_refuses_config_nested_33_levels(client, db, application, array):
    body = {"application_id": application["id"], "name": "deep", "config": nested(33, array)}

    assert "config" in assert_problem(client.post(API, json=body), 422)["errors"]
    assert config_rows(db) == []


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"config": {"a\u0000b": 1}}, "config"),
        ({"config": {"a": "x\u0000"}}, "config"),
        ({"config": {"a": {"b\u0000": 1}}}, "config"),
        ({"config": {"a": [{"b": ["\u0000"]}]}}, "config"),
        ({"config": {"a": "lone \ud800"}}, "config"),
        ({"comments": "x\u0000y"}, "comments"),
        ({"comments": "x" * 1025}, "comments"),
        ({"name": "db\u0000"}, "name"),
        ({"name": "abc\n"}, "name"),
        ({"name": ""}, "name"),
        ({"name": "a" * 129}, "name"),
        ({"colour": "red"}, "colour"),
        ({"id": UNKNOWN_ID}, "id"),
        ({"version": 1}, "version"),
        ({"created_at": "2026-01-01T00:00:00.000000Z"}, "created_at"),
        ({"updated_at": "2026-01-01T00:00:00.000000Z"}, "updated_at"),
    ],
)
def test_create_refuses_invalid_bodies(client, db, application, change, field):
    body = {"application_id": application["id"], "name": "database", "config": {}, **change}

    assert field in assert_problem(client.post(API, json=body), 422)["errors"]
    assert config_rows(db) == []


def test_create_refuses_merge_patch_media_type(client, db, application):
    body = {"application_id": application["id"], "name": "database", "config": {}}

    response = client.post(API, data=json.dumps(body), content_type="application/merge-patch+json")

    assert_problem(response, 415)
    assert config_rows(db) == []


# GET /configurations/{id} and the by-name read path


def by_name_path(application_name: str = "billing", name: str = "database") -> str:
    """Return the by-name URL of a configuration."""
    return f"{APPS}/by-name/{application_name}/configurations/{name}"


@pytest.mark.parametrize("path", ["id", "lower-case id", "by-name"])
def test_get_answers_etag_and_body(client, configuration, path):
    url = {
        "id": f"{API}/{configuration['id']}",
        "lower-case id": f"{API}/{configuration['id'].lower()}",
        "by-name": by_name_path(),
    }[path]

    assert assert_current(client.get(url), 1) == configuration


@pytest.mark.parametrize("by_name", [False, True], ids=["by-id", "by-name"])
@pytest.mark.parametrize(
    ("if_none_match", "status"),
    [
        ('"3"', 304),
        ("*", 304),
        ('W/"3"', 304),
        ('"7", "3"', 304),
        ('"7", W/"3"', 304),
        ('"2"', 200),
        ('W/"2"', 200),
        ('"7"', 200),
    ],
)
def test_if_none_match(client, configuration, by_name, if_none_match, status):
    for version in (2, 3):
        patch = {"config": {"version": version}}
        assert client.patch(f"{API}/{configuration['id']}", json=patch).status_code == 200
    url = by_name_path() if by_name else f"{API}/{configuration['id']}"

    response = client.get(url, headers={"If-None-Match": if_none_match})

    assert response.status_code == status
    assert response.headers["ETag"] == '"3"'
    assert response.headers["Cache-Control"] == "no-cache"
    if status == 304:
        assert response.get_data() == b""
    else:
        assert response.get_json()["config"]["version"] == 3


@pytest.mark.parametrize("bad_id", [*MALFORMED_IDS, UNKNOWN_ID])
def test_get_unknown_or_malformed_id_is_404(client, configuration, bad_id):
    assert_problem(client.get(f"{API}/{bad_id}"), 404)


@pytest.mark.parametrize(
    ("application_name", "name"),
    [
        ("billing", "nope"),
        ("nope", "database"),
        ("Billing", "database"),
        ("billing", "Database"),
        ("other", "database"),
        ("billing", "data"),
        ("a%00b", "database"),
        ("billing", "data%00base"),
        ("caf%C3%A9", "database"),
    ],
)
def test_get_by_name_unknown_is_404(client, configuration, application_name, name):
    create_application(client, "other")

    assert_problem(client.get(by_name_path(application_name, name)), 404)


# GET /applications/{id}/configurations


def list_page(client: Any, application_id: str, **query: Any) -> dict[str, Any]:
    """Return one page of an application's configurations."""
    response = client.get(f"{APPS}/{application_id}/configurations", query_string=query)
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.get_json()


def test_list_answers_the_applications_configurations_in_id_order(client, application):
    other = create_application(client, "other")
    mine = [create_configuration(client, application["id"], n, {"n": n}) for n in "cba"]
    create_configuration(client, other["id"], "database", {})

    body = list_page(client, application["id"].lower())

    assert body == {"items": mine, "next_cursor": None}
    assert [item["id"] for item in mine] == sorted(item["id"] for item in mine)


def test_list_pages_with_cursor(client, application):
    ids = [create_configuration(client, application["id"], f"c{n}", {})["id"] for n in range(5)]
    seen, sizes, query = [], [], {"limit": 2}

    for _ in range(5):
        body = list_page(client, application["id"], **query)
        sizes.append(len(body["items"]))
        seen += [item["id"] for item in body["items"]]
        query["cursor"] = body["next_cursor"]
        if query["cursor"] is None:
            break

    assert sizes == [2, 2, 1]
    assert seen == ids


@pytest.mark.parametrize(
    ("prefix", "expected"),
    [("db_", ["db_main"]), ("db", ["db_main", "dbxmain"]), ("db%", []), ("DB", []), ("", None)],
)
def test_list_name_prefix_is_literal(client, application, prefix, expected):
    for name in ["db_main", "dbxmain", "cache"]:
        create_configuration(client, application["id"], name, {})

    body = list_page(client, application["id"], name_prefix=prefix)

    names = [item["name"] for item in body["items"]]
    assert names == (expected if expected is not None else ["db_main", "dbxmain", "cache"])


@pytest.mark.parametrize("bad_id", [*MALFORMED_IDS, UNKNOWN_ID])
def test_list_of_unknown_application_is_404(client, bad_id):
    assert_problem(client.get(f"{APPS}/{bad_id}/configurations"), 404)


@pytest.mark.parametrize(
    ("query", "field"),
    [({"limit": "0"}, "limit"), ({"limit": "501"}, "limit"), ({"cursor": "!!"}, "cursor")],
)
def test_list_refuses_bad_query(client, application, query, field):
    response = client.get(f"{APPS}/{application['id']}/configurations", query_string=query)

    assert field in assert_problem(response, 400)["errors"]


# PUT /configurations/{id}


def test_put_replaces_everything_and_bumps_the_version(client, db, configuration):
    body = {"name": "primary", "comments": "new", "config": {"host": "db2"}}

    response = client.put(f"{API}/{configuration['id']}", json=body)

    replaced = assert_current(response, 2)
    assert {key: replaced[key] for key in body} == body
    assert replaced["created_at"] == configuration["created_at"]
    assert moment(replaced["updated_at"]) > moment(configuration["updated_at"])
    row = config_row(db, configuration["id"])
    assert (row["name"], row["comments"], row["config"], row["version"]) == (
        "primary", "new", {"host": "db2"}, 2
    )  # fmt: skip


def test_put_without_comments_sets_null(client, db, configuration):
    response = client.put(f"{API}/{configuration['id']}", json={"name": "database", "config": {}})

    assert assert_current(response, 2)["comments"] is None
    assert config_row(db, configuration["id"])["comments"] is None


@pytest.mark.parametrize("case", [str.upper, str.lower])
def test_put_accepts_the_current_application_id(client, db, configuration, case):
    body = {"application_id": case(configuration["application_id"]), "name": "database"}

    response = client.put(f"{API}/{configuration['id']}", json={**body, "config": {"a": 1}})

    assert assert_current(response, 2)["application_id"] == configuration["application_id"]
    assert config_row(db, configuration["id"])["config"] == {"a": 1}


@pytest.mark.parametrize("target", ["other", UNKNOWN_ID, "not-a-ulid"])
def test_put_refuses_another_application_id(client, db, configuration, target):
    other = create_application(client, "other")
    application_id = other["id"] if target == "other" else target
    body = {"application_id": application_id, "name": "database", "config": {"a": 1}}

    response = client.put(f"{API}/{configuration['id']}", json=body)

    assert "application_id" in assert_problem(response, 422)["errors"]
    row = config_row(db, configuration["id"])
    assert (row["application_id"], row["config"], row["version"]) == (
        configuration["application_id"], configuration["config"], 1
    )  # fmt: skip


def test_put_that_changes_nothing_keeps_version_and_updated_at(client, db, configuration):
    before = config_row(db, configuration["id"])
    body = {key: configuration[key] for key in ("name", "comments", "config")}

    response = client.put(f"{API}/{configuration['id']}", json=body)

    assert assert_current(response, 1) == configuration
    assert config_row(db, configuration["id"]) == before


def test_put_rename_to_taken_name_conflicts(client, db, application, configuration):
    create_configuration(client, application["id"], "taken", {})
    body = {"name": "taken", "config": {"a": 1}}

    assert_problem(client.put(f"{API}/{configuration['id']}", json=body), 409)
    row = config_row(db, configuration["id"])
    assert (row["name"], row["config"], row["version"]) == ("database", configuration["config"], 1)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": "database"}, "config"),
        ({"config": {}}, "name"),
        ({"name": "database", "config": []}, "config"),
        ({"name": "database", "config": {}, "version": 1}, "version"),
        ({"name": "database", "config": {}, "id": "x"}, "id"),
        ({"name": "database", "config": nested(33)}, "config"),
    ],
)
def test_put_refuses_invalid_bodies(client, db, configuration, body, field):
    response = client.put(f"{API}/{configuration['id']}", json=body)

    assert field in assert_problem(response, 422)["errors"]
    assert config_row(db, configuration["id"])["version"] == 1


@pytest.mark.parametrize("bad_id", [*MALFORMED_IDS, UNKNOWN_ID])
def test_put_unknown_or_malformed_id_is_404(client, bad_id):
    response = client.put(f"{API}/{bad_id}", json={"name": "database", "config": {}})

    assert_problem(response, 404)


def test_put_refuses_merge_patch_media_type(client, db, configuration):
    body = json.dumps({"name": "database", "config": {"a": 1}})

    response = client.put(
        f"{API}/{configuration['id']}", data=body, content_type="application/merge-patch+json"
    )

    assert_problem(response, 415)
    assert config_row(db, configuration["id"])["version"] == 1


# PATCH /configurations/{id}: RFC 7386 Appendix A, the cases with an object target


@pytest.mark.parametrize(
    ("target", "patch", "expected"),
    [
        ({"a": "b"}, {"a": "c"}, {"a": "c"}),
        ({"a": "b"}, {"b": "c"}, {"a": "b", "b": "c"}),
        ({"a": "b"}, {"a": None}, {}),
        ({"a": "b", "b": "c"}, {"a": None}, {"b": "c"}),
        ({"a": ["b"]}, {"a": "c"}, {"a": "c"}),
        ({"a": "c"}, {"a": ["b"]}, {"a": ["b"]}),
        ({"a": {"b": "c"}}, {"a": {"b": "d", "c": None}}, {"a": {"b": "d"}}),
        ({"a": [{"b": "c"}]}, {"a": [1]}, {"a": [1]}),
        ({"e": None}, {"a": 1}, {"e": None, "a": 1}),
        ({}, {"a": {"bb": {"ccc": None}}}, {"a": {"bb": {}}}),
    ],
)
@pytest.mark.parametrize("media_type", ["application/json", "application/merge-patch+json"])
def test_patch_applies_config_as_merge_patch(
    client, db, application, target, patch, expected, media_type
):
    created = create_configuration(client, application["id"], "database", target)

    response = client.patch(
        f"{API}/{created['id']}", data=json.dumps({"config": patch}), content_type=media_type
    )

    assert assert_current(response, 2)["config"] == expected
    row = config_row(db, created["id"])
    assert (row["config"], row["version"]) == (expected, 2)


@pytest.mark.parametrize("patch", [["c"], None, "bar", 1])
def test_patch_refuses_a_config_that_would_not_be_an_object(client, db, configuration, patch):
    response = client.patch(f"{API}/{configuration['id']}", json={"config": patch})

    assert "config" in assert_problem(response, 422)["errors"]
    row = config_row(db, configuration["id"])
    assert (row["config"], row["version"]) == (configuration["config"], 1)


@pytest.mark.parametrize(
    ("change", "name", "comments"),
    [
        ({"name": "primary"}, "primary", "db"),
        ({"comments": "new"}, "database", "new"),
        ({"comments": None}, "database", None),
    ],
)
def test_patch_changes_only_what_it_names(client, db, configuration, change, name, comments):
    response = client.patch(f"{API}/{configuration['id']}", json=change)

    body = assert_current(response, 2)
    assert (body["name"], body["comments"], body["config"]) == (
        name, comments, configuration["config"]
    )  # fmt: skip
    row = config_row(db, configuration["id"])
    assert (row["name"], row["comments"], row["version"]) == (name, comments, 2)


@pytest.mark.parametrize(
    "change",
    [
        {},
        {"config": {}},
        {"config": {"host": "db1"}},
        {"config": {"missing": None}},
        {"config": {"pool": {"max": 20}}},
        {"name": "database", "comments": "db"},
    ],
)
def test_patch_that_changes_nothing_keeps_the_version(client, db, configuration, change):
    before = config_row(db, configuration["id"])

    response = client.patch(f"{API}/{configuration['id']}", json=change)

    assert assert_current(response, 1) == configuration
    assert config_row(db, configuration["id"]) == before


@pytest.mark.parametrize("case", [str.upper, str.lower])
def test_patch_refuses_application_id_even_when_current(client, db, configuration, case):
    body = {"application_id": case(configuration["application_id"]), "comments": "x"}

    response = client.patch(f"{API}/{configuration['id']}", json=body)

    assert "application_id" in assert_problem(response, 422)["errors"]
    assert config_row(db, configuration["id"])["comments"] == "db"


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"version": 1}, "version"),
        ({"id": "x"}, "id"),
        ({"name": None}, "name"),
        ({"name": "-x"}, "name"),
        ({"comments": "\u0000"}, "comments"),
        ({"config": {"a\u0000": 1}}, "config"),
        ({"config": {"a": {"b": "\u0000"}}}, "config"),
        ({"config": nested(33)}, "config"),
    ],
)
def test_patch_refuses_invalid_bodies(client, db, configuration, change, field):
    response = client.patch(f"{API}/{configuration['id']}", json=change)

    assert field in assert_problem(response, 422)["errors"]
    assert config_row(db, configuration["id"])["version"] == 1


def test_patch_rename_to_taken_name_conflicts(client, db, application, configuration):
    create_configuration(client, application["id"], "taken", {})

    assert_problem(client.patch(f"{API}/{configuration['id']}", json={"name": "taken"}), 409)
    assert config_row(db, configuration["id"])["name"] == "database"


@pytest.mark.parametrize("bad_id", [*MALFORMED_IDS, UNKNOWN_ID])
def test_patch_unknown_or_malformed_id_is_404(client, bad_id):
    assert_problem(client.patch(f"{API}/{bad_id}", json={"comments": "x"}), 404)


# DELETE /configurations/{id}


def test_delete_answers_204_then_404(client, db, application, configuration):
    kept = create_configuration(client, application["id"], "cache", {})

    response = client.delete(f"{API}/{configuration['id'].lower()}")

    assert response.status_code == 204
    assert response.get_data() == b""
    assert [row["id"] for row in config_rows(db)] == [kept["id"]]
    assert_problem(client.get(f"{API}/{configuration['id']}"), 404)
    assert_problem(client.get(by_name_path()), 404)
    assert_problem(client.delete(f"{API}/{configuration['id']}"), 404)


@pytest.mark.parametrize("bad_id", [*MALFORMED_IDS, UNKNOWN_ID])
def test_delete_unknown_or_malformed_id_is_404(client, db, configuration, bad_id):
    assert_problem(client.delete(f"{API}/{bad_id}"), 404)
    assert len(config_rows(db)) == 1


# If-Match on PUT, PATCH and DELETE (strong comparison); the configuration is at version 3


WRITES = {
    "put": {"name": "database", "config": {"written": True}},
    "patch": {"config": {"written": True}},
    "delete": None,
}


@pytest.fixture
def at_version_3(client: Any, configuration: dict[str, Any]) -> dict[str, Any]:
    """The configuration after two more writes."""
    for version in (2, 3):
        patch = {"config": {"step": version}}
        assert client.patch(f"{API}/{configuration['id']}", json=patch).status_code == 200
    return client.get(f"{API}/{configuration['id']}").get_json()


@pytest.mark.parametrize("method", list(WRITES))
@pytest.mark.parametrize("if_match", ['"3"', ' "3" ', "*", '"7", "3"', '"3", "7"', 'W/"1", "3"'])
def test_if_match_that_matches_lets_the_write_through(client, db, at_version_3, method, if_match):
    url = f"{API}/{at_version_3['id']}"

    response = getattr(client, method)(url, json=WRITES[method], headers={"If-Match": if_match})

    row = config_row(db, at_version_3["id"])
    if method == "delete":
        assert response.status_code == 204
        assert row is None
    else:
        assert assert_current(response, 4)["config"]["written"] is True
        assert (row["version"], row["config"]["written"]) == (4, True)


@pytest.mark.parametrize("method", list(WRITES))
@pytest.mark.parametrize(
    "if_match", ['"2"', '"4"', 'W/"3"', '"7", "8"', '"x"', '""', '"03"', '"99999999999"', "3x"]
)
def test_stale_if_match_is_412_and_writes_nothing(client, db, at_version_3, method, if_match):
    before = config_row(db, at_version_3["id"])
    url = f"{API}/{at_version_3['id']}"

    response = getattr(client, method)(url, json=WRITES[method], headers={"If-Match": if_match})

    problem = assert_problem(response, 412)
    assert re.search(r"\b3\b", problem["detail"]), problem["detail"]
    assert config_row(db, at_version_3["id"]) == before


@pytest.mark.parametrize("method", list(WRITES))
def test_without_if_match_the_write_applies(client, db, at_version_3, method):
    response = getattr(client, method)(f"{API}/{at_version_3['id']}", json=WRITES[method])

    row = config_row(db, at_version_3["id"])
    if method == "delete":
        assert (response.status_code, row) == (204, None)
    else:
        assert (response.status_code, row["version"]) == (200, 4)


def test_a_page_of_big_configurations_stops_at_max_page_bytes(client, app) -> None:
    application = create_application(client)
    for index in range(6):
        create_configuration(client, application["id"], f"big-{index}", {"blob": "x" * 1_000_000})
    url = f"/api/v1/applications/{application['id']}/configurations?limit=500"

    first = client.get(url).get_json()
    second = client.get(f"{url}&cursor={first['next_cursor']}").get_json()

    assert app.config["MAX_PAGE_BYTES"] == 4 * 1024 * 1024
    assert len(first["items"]) == 5 and first["next_cursor"]  # the 5th crosses the cap
    assert len(second["items"]) == 1 and second["next_cursor"] is None
    names = [item["name"] for item in first["items"] + second["items"]]
    assert sorted(names) == [f"big-{index}" for index in range(6)]


@pytest.mark.parametrize("method", list(WRITES))
def test_unquoted_if_match_says_to_quote_the_tag(client, db, at_version_3, method):
    url = f"{API}/{at_version_3['id']}"

    response = getattr(client, method)(url, json=WRITES[method], headers={"If-Match": "2"})

    problem = assert_problem(response, 412)
    assert 'If-Match: "2"' in problem["detail"] and "quoted" in problem["detail"]
