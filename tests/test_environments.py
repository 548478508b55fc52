"""Environments: create, list, read, change comments, delete (with and without cascade)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.helpers import (
    TIMESTAMP_RE,
    ULID_RE,
    assert_problem,
    create_application,
    create_configuration,
)

API = "/api/v1/environments"


def create_environment(client: Any, name: str = "staging", **extra: Any) -> dict[str, Any]:
    """Create an environment through the API and return its representation."""
    response = client.post(API, json={"name": name, **extra})
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def test_create_answers_201_with_location_and_every_field(client: Any) -> None:
    response = client.post(API, json={"name": "staging", "comments": "pre-production"})
    assert response.status_code == 201
    body = response.get_json()
    assert list(body) == ["id", "name", "comments", "created_at", "updated_at"]
    assert ULID_RE.fullmatch(body["id"]) and TIMESTAMP_RE.fullmatch(body["created_at"])
    assert body["name"] == "staging" and body["comments"] == "pre-production"
    assert response.headers["Location"].endswith("/api/v1/environments/staging")
    assert client.get(response.headers["Location"]).get_json() == body


def test_absent_comments_are_null(client: Any) -> None:
    assert create_environment(client)["comments"] is None


def test_a_taken_name_is_409(client: Any) -> None:
    create_environment(client)
    assert_problem(client.post(API, json={"name": "staging"}), 409)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "name"),
        ({"name": ""}, "name"),
        ({"name": "bad name"}, "name"),
        ({"name": "x" * 129}, "name"),
        ({"name": "staging\n"}, "name"),
        ({"name": "staging", "comments": "x" * 1025}, "comments"),
        ({"name": "staging", "id": "01ARZ3NDEKTSV4RRFFQ69G5FAV"}, "id"),
        ({"name": "staging", "extra": 1}, "extra"),
    ],
)
def test_a_bad_body_is_422_naming_the_field(client: Any, body: dict, field: str) -> None:
    assert field in assert_problem(client.post(API, json=body), 422)["errors"]


def test_list_is_paginated_in_creation_order(client: Any) -> None:
    names = ["production", "dev", "staging"]
    for name in names:
        create_environment(client, name)
    first = client.get(f"{API}?limit=2").get_json()
    assert [item["name"] for item in first["items"]] == names[:2]
    second = client.get(f"{API}?limit=2&cursor={first['next_cursor']}").get_json()
    assert [item["name"] for item in second["items"]] == names[2:]
    assert second["next_cursor"] is None
    assert_problem(client.get(f"{API}?limit=0"), 400)
    assert_problem(client.get(f"{API}?cursor=!!"), 400)


@pytest.mark.parametrize("name", ["nope", "bad%20name", "x%00y", "a" * 129])
def test_an_unknown_or_impossible_name_is_404(client: Any, name: str) -> None:
    assert_problem(client.get(f"{API}/{name}"), 404)
    assert_problem(client.patch(f"{API}/{name}", json={"comments": "x"}), 404)
    assert_problem(client.delete(f"{API}/{name}"), 404)


def test_patch_changes_comments_only(client: Any) -> None:
    created = create_environment(client)
    response = client.patch(f"{API}/staging", json={"comments": "now"})
    assert response.status_code == 200
    assert response.get_json()["comments"] == "now"
    assert response.get_json()["updated_at"] >= created["updated_at"]
    same = client.patch(f"{API}/staging", json={}).get_json()
    assert same == response.get_json()


@pytest.mark.parametrize("body", [{"name": "other"}, {"name": "staging"}, {"id": "x"}])
def test_patch_refuses_a_name_or_read_only_field(client: Any, body: dict) -> None:
    create_environment(client)
    assert_problem(client.patch(f"{API}/staging", json=body), 422)


def test_delete_answers_204_then_404(client: Any) -> None:
    create_environment(client)
    assert client.delete(f"{API}/staging").status_code == 204
    assert_problem(client.get(f"{API}/staging"), 404)


def _with_overlay(client: Any) -> str:
    create_environment(client)
    application = create_application(client, "billing")
    configuration = create_configuration(client, application["id"], config={"a": 1})
    url = f"/api/v1/configurations/{configuration['id']}/environments/staging"
    assert client.put(url, json={"patch": {"a": 2}}).status_code == 201
    return configuration["id"]


def test_delete_in_use_is_409_unless_cascade(client: Any) -> None:
    configuration_id = _with_overlay(client)
    assert_problem(client.delete(f"{API}/staging"), 409)
    assert_problem(client.delete(f"{API}/staging?cascade=maybe"), 400)
    assert client.delete(f"{API}/staging?cascade=true").status_code == 204
    listed = client.get(f"/api/v1/configurations/{configuration_id}/environments")
    assert listed.get_json()["items"] == []
    resolved = client.get(f"/api/v1/configurations/{configuration_id}?environment=staging")
    assert_problem(resolved, 404)


def test_writes_are_audited_with_the_environment(client: Any) -> None:
    configuration_id = _with_overlay(client)
    client.patch(f"{API}/staging", json={"comments": "c"})
    client.delete(f"{API}/staging?cascade=true")
    entries = client.get("/api/v1/audit").get_json()["items"]
    seen = [(e["action"], e["resource_type"], e["environment"]) for e in entries]
    assert seen[:4] == [
        ("delete", "overlay", "staging"),
        ("delete", "environment", "staging"),
        ("update", "environment", "staging"),
        ("create", "overlay", "staging"),
    ]
    assert entries[0]["resource_id"] == configuration_id and entries[0]["version"] == 1
    assert ("create", "environment", "staging") in seen
