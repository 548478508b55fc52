"""The /api/v1/applications routes, against a real database."""

from __future__ import annotations

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

API = "/api/v1/applications"
UNKNOWN_ID = "01ARZ3NDEKTSV4RRFFQ69G5FAV"  # a valid ULID no test creates
FIELDS = ["id", "name", "comments", "configuration_ids", "created_at", "updated_at"]
MALFORMED_IDS = [
    "not-a-ulid",
    "01ARZ3NDEKTSV4RRFFQ69G5FA",  # 25 characters
    "01ARZ3NDEKTSV4RRFFQ69G5FAVX",  # 27 characters
    "81ARZ3NDEKTSV4RRFFQ69G5FAV",  # past the largest ULID
    "01ARZ3NDEKTSV4RRFFQ69G5FAU",  # U is not Crockford base32
]


def app_rows(db: Any) -> list[dict[str, Any]]:
    """Return every application row, in id order."""
    with db.cursor() as cur:
        cur.execute("SELECT * FROM applications ORDER BY id")
        return cur.fetchall()


def app_row(db: Any, application_id: str) -> dict[str, Any] | None:
    """Return one application row, or None."""
    with db.cursor() as cur:
        cur.execute("SELECT * FROM applications WHERE id = %s", (application_id,))
        return cur.fetchone()


def configuration_count(db: Any, application_id: str | None = None) -> int:
    """Count configurations, of one application or of all."""
    with db.cursor() as cur:
        cur.execute(
            "SELECT count(*) AS n FROM configurations"
            " WHERE %(id)s::text IS NULL OR application_id = %(id)s",
            {"id": application_id},
        )
        return cur.fetchone()["n"]


def moment(text: str) -> datetime:
    """Parse an RFC 3339 timestamp the API answered."""
    assert TIMESTAMP_RE.fullmatch(text), text
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def list_ids(client: Any, **query: Any) -> list[str]:
    """Return the ids of one list page."""
    response = client.get(API, query_string=query)
    assert response.status_code == 200, response.get_json()
    return [item["id"] for item in response.get_json()["items"]]


def all_pages(client: Any, limit: int, **query: Any) -> list[list[str]]:
    """Follow next_cursor from the first page to the last; return each page's ids."""
    pages: list[list[str]] = []
    cursor = None
    while True:
        params = {"limit": limit, **query, **({"cursor": cursor} if cursor else {})}
        body = client.get(API, query_string=params).get_json()
        pages.append([item["id"] for item in body["items"]])
        cursor = body["next_cursor"]
        if cursor is None or len(pages) > 50:
            return pages


# POST /applications


def test_create_answers_201_with_location_and_representation(client, db):
    response = client.post(API, json={"name": "billing-api", "comments": "bills"})

    assert response.status_code == 201
    body = response.get_json()
    assert list(body) == FIELDS
    assert ULID_RE.fullmatch(body["id"])
    assert body["name"] == "billing-api"
    assert body["comments"] == "bills"
    assert body["configuration_ids"] == []
    assert moment(body["created_at"]) == moment(body["updated_at"])
    assert urlsplit(response.headers["Location"]).path == f"{API}/{body['id']}"
    fetched = client.get(response.headers["Location"])
    assert fetched.status_code == 200
    assert fetched.get_json() == body
    row = app_row(db, body["id"])
    assert (row["name"], row["comments"]) == ("billing-api", "bills")


@pytest.mark.parametrize(
    ("extra", "stored"),
    [({}, None), ({"comments": None}, None), ({"comments": ""}, ""), ({"comments": "x"}, "x")],
)
def test_create_comments(client, db, extra, stored):
    body = create_application(client, "billing", **extra)

    assert body["comments"] == stored
    assert app_row(db, body["id"])["comments"] == stored


@pytest.mark.parametrize("comments", ["x" * 1024, "é" * 1024])
def test_create_accepts_comments_of_1024_characters(client, db, comments):
    body = create_application(client, "billing", comments=comments)

    assert app_row(db, body["id"])["comments"] == comments


@pytest.mark.parametrize("name", ["a", "A" * 128, "a.b-c_d", "0abc", "Z9.-_"])
def test_create_accepts_valid_names(client, db, name):
    body = create_application(client, name)

    assert body["name"] == name
    assert app_row(db, body["id"])["name"] == name


def test_create_duplicate_name_conflicts(client, db):
    create_application(client, "billing")

    response = client.post(API, json={"name": "billing"})

    assert_problem(response, 409)
    assert len(app_rows(db)) == 1


def test_names_are_case_sensitive(client, db):
    create_application(client, "billing")
    create_application(client, "Billing")

    assert sorted(row["name"] for row in app_rows(db)) == ["Billing", "billing"]


@pytest.mark.parametrize(
    "name",
    [
        "",
        "a" * 129,
        ".hidden",
        "-dash",
        "_under",
        "has space",
        " lead",
        "café",
        "名前",
        "abc\n",
        "a/b",
        "a\u0000b",
        123,
        True,
        None,
        ["abc"],
        {"x": "abc"},
    ],
)
def test_create_refuses_bad_names(client, db, name):
    response = client.post(API, json={"name": name})

    assert "name" in assert_problem(response, 422)["errors"]
    assert app_rows(db) == []


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "name"),
        ({"name": "ok", "comments": "x" * 1025}, "comments"),
        ({"name": "ok", "comments": 5}, "comments"),
        ({"name": "ok", "comments": "nul\u0000"}, "comments"),
        ({"name": "ok", "comments": "lone \ud800"}, "comments"),
        ({"name": "ok", "colour": "red"}, "colour"),
        ({"name": "ok", "id": UNKNOWN_ID}, "id"),
        ({"name": "ok", "created_at": "2026-01-01T00:00:00.000000Z"}, "created_at"),
        ({"name": "ok", "updated_at": "2026-01-01T00:00:00.000000Z"}, "updated_at"),
        ({"name": "ok", "configuration_ids": []}, "configuration_ids"),
    ],
)
def test_create_refuses_invalid_bodies(client, db, body, field):
    response = client.post(API, json=body)

    assert field in assert_problem(response, 422)["errors"]
    assert app_rows(db) == []


# GET /applications


def test_list_empty(client):
    response = client.get(API)

    assert response.status_code == 200
    assert response.get_json() == {"items": [], "next_cursor": None}


def test_list_orders_by_id_and_answers_full_items(client):
    created = [create_application(client, name) for name in ["e", "d", "c", "b", "a"]]

    body = client.get(API).get_json()

    assert body["items"] == created  # creation order is id order
    assert [item["id"] for item in body["items"]] == sorted(app["id"] for app in created)
    assert body["next_cursor"] is None


def test_list_limit_defaults_to_50(client):
    ids = [create_application(client, f"app-{n:02d}")["id"] for n in range(51)]

    first = client.get(API).get_json()
    second = client.get(API, query_string={"cursor": first["next_cursor"]}).get_json()

    assert [item["id"] for item in first["items"]] == ids[:50]
    assert first["next_cursor"] is not None
    assert [item["id"] for item in second["items"]] == ids[50:]
    assert second["next_cursor"] is None


@pytest.mark.parametrize(("limit", "expected"), [(1, 1), (2, 2), (3, 3), (500, 3)])
def test_list_limit_within_bounds(client, limit, expected):
    for name in ["a", "b", "c"]:
        create_application(client, name)

    body = client.get(API, query_string={"limit": limit}).get_json()

    assert len(body["items"]) == expected
    assert (body["next_cursor"] is None) == (expected == 3)


@pytest.mark.parametrize("limit", ["0", "501", "-1", "abc", "", "1.5", "1e2"])
def test_list_refuses_bad_limit(client, limit):
    response = client.get(API, query_string={"limit": limit})

    assert "limit" in assert_problem(response, 400)["errors"]


@pytest.mark.parametrize(("count", "sizes"), [(7, [3, 3, 1]), (6, [3, 3]), (2, [2])])
def test_cursor_pages_through_everything_once(client, count, sizes):
    ids = [create_application(client, f"app-{n}")["id"] for n in range(count)]

    pages = all_pages(client, limit=3)

    assert [len(page) for page in pages] == sizes
    assert [app_id for page in pages for app_id in page] == ids


@pytest.mark.parametrize(
    "cursor",
    [
        "garbage!",
        "x",
        "%%%",
        "aGVsbG8",  # base64 of "hello": ours in form but not a key
        "é",
    ],
)
def test_list_refuses_bad_cursor(client, cursor):
    create_application(client, "billing")

    response = client.get(API, query_string={"cursor": cursor})

    assert "cursor" in assert_problem(response, 400)["errors"]


@pytest.mark.parametrize(
    ("prefix", "expected"),
    [
        ("a_", ["a_b"]),
        ("ax", ["axb"]),
        ("a", ["a_b", "axb", "abc", "a-b"]),
        ("a%", []),
        ("%", []),
        ("_", []),
        ("a\\", []),
        ("A", []),
        ("", ["a_b", "axb", "abc", "a-b"]),
    ],
)
def test_name_prefix_is_literal(client, prefix, expected):
    for name in ["a_b", "axb", "abc", "a-b"]:
        create_application(client, name)

    body = client.get(API, query_string={"name_prefix": prefix}).get_json()

    assert [item["name"] for item in body["items"]] == expected


def test_name_prefix_pages_with_cursor(client):
    wanted = [create_application(client, f"web-{n}")["id"] for n in range(5)]
    for n in range(3):
        create_application(client, f"db-{n}")

    pages = all_pages(client, limit=2, name_prefix="web-")

    assert [app_id for page in pages for app_id in page] == wanted


# GET /applications/{id} and /applications/by-name/{name}


def test_get_by_id(client):
    created = create_application(client, "billing", comments="c")

    response = client.get(f"{API}/{created['id']}")

    assert response.status_code == 200
    assert response.get_json() == created


def test_get_by_lower_case_id(client):
    created = create_application(client, "billing")

    response = client.get(f"{API}/{created['id'].lower()}")

    assert response.status_code == 200
    assert response.get_json()["id"] == created["id"]


@pytest.mark.parametrize("bad_id", [*MALFORMED_IDS, UNKNOWN_ID, UNKNOWN_ID.lower()])
def test_get_unknown_or_malformed_id_is_404(client, bad_id):
    create_application(client, "billing")

    assert_problem(client.get(f"{API}/{bad_id}"), 404)


def test_get_by_name(client):
    created = create_application(client, "billing.api-v2")

    response = client.get(f"{API}/by-name/billing.api-v2")

    assert response.status_code == 200
    assert response.get_json() == created


@pytest.mark.parametrize(
    "name", ["billing", "BILLING", "Billing ", "nope", "a%00b", "with%20space", "caf%C3%A9"]
)
def test_get_by_name_is_exact_and_case_sensitive(client, name):
    create_application(client, "Billing")

    assert_problem(client.get(f"{API}/by-name/{name}"), 404)


# PUT /applications/{id}


def test_put_replaces_name_and_comments(client, db):
    created = create_application(client, "billing", comments="old")

    response = client.put(f"{API}/{created['id']}", json={"name": "invoices", "comments": "new"})

    assert response.status_code == 200
    body = response.get_json()
    assert body["id"] == created["id"]
    assert (body["name"], body["comments"]) == ("invoices", "new")
    assert body["created_at"] == created["created_at"]
    assert moment(body["updated_at"]) > moment(created["updated_at"])
    row = app_row(db, created["id"])
    assert (row["name"], row["comments"]) == ("invoices", "new")
    assert client.get(f"{API}/by-name/billing").status_code == 404


def test_put_without_comments_sets_null(client, db):
    created = create_application(client, "billing", comments="old")

    response = client.put(f"{API}/{created['id']}", json={"name": "billing"})

    assert response.status_code == 200
    assert response.get_json()["comments"] is None
    assert app_row(db, created["id"])["comments"] is None


def test_put_with_lower_case_id(client, db):
    created = create_application(client, "billing")

    response = client.put(f"{API}/{created['id'].lower()}", json={"name": "invoices"})

    assert response.status_code == 200
    assert app_row(db, created["id"])["name"] == "invoices"


def test_put_rename_to_taken_name_conflicts(client, db):
    create_application(client, "taken")
    created = create_application(client, "billing", comments="keep")

    response = client.put(f"{API}/{created['id']}", json={"name": "taken", "comments": "x"})

    assert_problem(response, 409)
    row = app_row(db, created["id"])
    assert (row["name"], row["comments"]) == ("billing", "keep")


def test_put_that_changes_nothing_keeps_updated_at(client, db):
    created = create_application(client, "billing", comments="same")
    before = app_row(db, created["id"])["updated_at"]

    response = client.put(f"{API}/{created['id']}", json={"name": "billing", "comments": "same"})

    assert response.status_code == 200
    assert response.get_json()["updated_at"] == created["updated_at"]
    assert app_row(db, created["id"])["updated_at"] == before


def test_put_that_changes_something_moves_updated_at(client, db):
    created = create_application(client, "billing", comments="same")
    before = app_row(db, created["id"])["updated_at"]

    response = client.put(f"{API}/{created['id']}", json={"name": "billing", "comments": "new"})

    assert moment(response.get_json()["updated_at"]) > moment(created["updated_at"])
    assert app_row(db, created["id"])["updated_at"] > before
    assert app_row(db, created["id"])["created_at"] == before


@pytest.mark.parametrize("bad_id", [*MALFORMED_IDS, UNKNOWN_ID])
def test_put_unknown_or_malformed_id_is_404(client, db, bad_id):
    response = client.put(f"{API}/{bad_id}", json={"name": "billing"})

    assert_problem(response, 404)
    assert app_rows(db) == []


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"name": None}, "name"),
        ({"name": ""}, "name"),
        ({"name": "abc\n"}, "name"),
        ({"comments": "x" * 1025}, "comments"),
        ({"extra": 1}, "extra"),
    ],
)
def test_put_refuses_invalid_bodies(client, db, change, field):
    created = create_application(client, "billing", comments="keep")
    body = {"name": "billing", "comments": "keep", **change}

    response = client.put(f"{API}/{created['id']}", json=body)

    assert field in assert_problem(response, 422)["errors"]
    row = app_row(db, created["id"])
    assert (row["name"], row["comments"]) == ("billing", "keep")


def test_put_without_name_is_422(client, db):
    created = create_application(client, "billing")

    response = client.put(f"{API}/{created['id']}", json={"comments": "x"})

    assert "name" in assert_problem(response, 422)["errors"]
    assert app_row(db, created["id"])["comments"] is None


@pytest.mark.parametrize("method", ["put", "patch"])
@pytest.mark.parametrize("field", ["id", "created_at", "updated_at", "configuration_ids"])
def test_read_only_fields_are_refused_even_with_current_values(client, db, method, field):
    created = create_application(client, "billing")
    body = {"name": "renamed", field: created[field]}

    response = getattr(client, method)(f"{API}/{created['id']}", json=body)

    assert field in assert_problem(response, 422)["errors"]
    assert app_row(db, created["id"])["name"] == "billing"


# PATCH /applications/{id}


@pytest.mark.parametrize(
    ("change", "name", "comments"),
    [
        ({"name": "invoices"}, "invoices", "keep"),
        ({"comments": "new"}, "billing", "new"),
        ({"comments": None}, "billing", None),
        ({"comments": ""}, "billing", ""),
        ({"name": "invoices", "comments": None}, "invoices", None),
    ],
)
def test_patch_changes_only_what_it_names(client, db, change, name, comments):
    created = create_application(client, "billing", comments="keep")

    response = client.patch(f"{API}/{created['id']}", json=change)

    assert response.status_code == 200
    body = response.get_json()
    assert (body["name"], body["comments"]) == (name, comments)
    assert moment(body["updated_at"]) > moment(created["updated_at"])
    row = app_row(db, created["id"])
    assert (row["name"], row["comments"]) == (name, comments)


@pytest.mark.parametrize("change", [{}, {"name": "billing"}, {"comments": "keep"}])
def test_patch_that_changes_nothing_keeps_updated_at(client, db, change):
    created = create_application(client, "billing", comments="keep")
    before = app_row(db, created["id"])["updated_at"]

    response = client.patch(f"{API}/{created['id']}", json=change)

    assert response.status_code == 200
    assert response.get_json() == created
    assert app_row(db, created["id"])["updated_at"] == before


def test_patch_accepts_merge_patch_media_type(client, db):
    created = create_application(client, "billing", comments="keep")

    response = client.patch(
        f"{API}/{created['id']}",
        data='{"comments": null}',
        content_type="application/merge-patch+json",
    )

    assert response.status_code == 200
    assert app_row(db, created["id"])["comments"] is None


def test_patch_rename_to_taken_name_conflicts(client, db):
    create_application(client, "taken")
    created = create_application(client, "billing")

    assert_problem(client.patch(f"{API}/{created['id']}", json={"name": "taken"}), 409)
    assert app_row(db, created["id"])["name"] == "billing"


@pytest.mark.parametrize(
    ("change", "field"),
    [({"name": None}, "name"), ({"name": ".x"}, "name"), ({"comments": 1}, "comments")],
)
def test_patch_refuses_invalid_bodies(client, db, change, field):
    created = create_application(client, "billing", comments="keep")

    response = client.patch(f"{API}/{created['id']}", json=change)

    assert field in assert_problem(response, 422)["errors"]
    row = app_row(db, created["id"])
    assert (row["name"], row["comments"]) == ("billing", "keep")


@pytest.mark.parametrize("bad_id", [*MALFORMED_IDS, UNKNOWN_ID])
def test_patch_unknown_or_malformed_id_is_404(client, bad_id):
    assert_problem(client.patch(f"{API}/{bad_id}", json={"comments": "x"}), 404)


# DELETE /applications/{id}


@pytest.mark.parametrize("query", ["", "?cascade=false", "?cascade=true"])
def test_delete_answers_204_and_removes_the_row(client, db, query):
    created = create_application(client, "billing")
    other = create_application(client, "other")

    response = client.delete(f"{API}/{created['id']}{query}")

    assert response.status_code == 204
    assert response.get_data() == b""
    assert [row["id"] for row in app_rows(db)] == [other["id"]]
    assert_problem(client.get(f"{API}/{created['id']}"), 404)


def test_delete_with_lower_case_id(client, db):
    created = create_application(client, "billing")

    assert client.delete(f"{API}/{created['id'].lower()}").status_code == 204
    assert app_rows(db) == []


@pytest.mark.parametrize("bad_id", [*MALFORMED_IDS, UNKNOWN_ID])
def test_delete_unknown_or_malformed_id_is_404(client, db, bad_id):
    create_application(client, "billing")

    assert_problem(client.delete(f"{API}/{bad_id}"), 404)
    assert len(app_rows(db)) == 1


def test_delete_twice_is_404(client):
    created = create_application(client, "billing")

    assert client.delete(f"{API}/{created['id']}").status_code == 204
    assert_problem(client.delete(f"{API}/{created['id']}"), 404)


@pytest.mark.parametrize("query", ["", "?cascade=false"])
def test_delete_with_configurations_conflicts(client, db, query):
    created = create_application(client, "billing")
    create_configuration(client, created["id"], "database", {"host": "db1"})

    response = client.delete(f"{API}/{created['id']}{query}")

    assert_problem(response, 409)
    assert app_row(db, created["id"]) is not None
    assert configuration_count(db, created["id"]) == 1
    assert client.get(f"{API}/{created['id']}").status_code == 200


def test_delete_cascade_removes_configurations(client, db):
    created = create_application(client, "billing")
    other = create_application(client, "other")
    for name in ["database", "cache", "queue"]:
        create_configuration(client, created["id"], name, {"n": name})
    kept = create_configuration(client, other["id"], "database", {"n": "other"})

    response = client.delete(f"{API}/{created['id']}?cascade=true")

    assert response.status_code == 204
    assert app_row(db, created["id"]) is None
    assert configuration_count(db, created["id"]) == 0
    assert configuration_count(db) == 1
    assert client.get(f"/api/v1/configurations/{kept['id']}").status_code == 200


@pytest.mark.parametrize("cascade", ["maybe", "True", "1", "yes", ""])
def test_delete_refuses_bad_cascade(client, db, cascade):
    created = create_application(client, "billing")
    create_configuration(client, created["id"], "database", {})

    response = client.delete(f"{API}/{created['id']}", query_string={"cascade": cascade})

    assert "cascade" in assert_problem(response, 400)["errors"]
    assert app_row(db, created["id"]) is not None
    assert configuration_count(db, created["id"]) == 1


# configuration_ids


def test_configuration_ids_list_the_applications_configurations_in_id_order(client):
    created = create_application(client, "billing")
    other = create_application(client, "other")
    ids = [create_configuration(client, created["id"], name, {})["id"] for name in "zyx"]
    create_configuration(client, other["id"], "database", {})

    by_id = client.get(f"{API}/{created['id']}").get_json()
    by_name = client.get(f"{API}/by-name/billing").get_json()
    listed = client.get(API, query_string={"name_prefix": "billing"}).get_json()["items"]

    assert ids == sorted(ids)
    assert by_id["configuration_ids"] == ids
    assert by_name["configuration_ids"] == ids
    assert listed[0]["configuration_ids"] == ids


def test_configuration_ids_follow_deletes(client):
    created = create_application(client, "billing")
    first, second = (create_configuration(client, created["id"], n, {})["id"] for n in "ab")

    assert client.delete(f"/api/v1/configurations/{first}").status_code == 204

    assert client.get(f"{API}/{created['id']}").get_json()["configuration_ids"] == [second]
