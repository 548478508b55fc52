"""History and rollback: list, one version, restore, on a real database."""

from __future__ import annotations

import base64
import re
from datetime import datetime
from typing import Any

import pytest

from tests.helpers import TIMESTAMP_RE, assert_problem, create_application, create_configuration

API = "/api/v1/configurations"
UNKNOWN_ID = "01ARZ3NDEKTSV4RRFFQ69G5FAV"  # a valid ULID no test creates
ITEM_FIELDS = ["version", "name", "comments", "config", "schema", "created_at"]


def assert_configuration(response: Any, version: int) -> dict[str, Any]:
    """Check a 200 answer carrying one configuration at this version; return its body."""
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.headers["ETag"] == f'"{version}"'
    assert response.headers["Cache-Control"] == "no-cache"
    body = response.get_json()
    assert body["version"] == version
    return body


def history(db: Any, configuration_id: str) -> list[dict[str, Any]]:
    """Return the configuration's history rows, oldest first."""
    with db.cursor() as cur:
        cur.execute(
            "SELECT version, name, comments, config FROM configuration_versions"
            " WHERE configuration_id = %s ORDER BY version",
            (configuration_id,),
        )
        return cur.fetchall()


def stored_version(db: Any, configuration_id: str) -> int:
    """Return the configuration's current version as stored."""
    with db.cursor() as cur:
        cur.execute("SELECT version FROM configurations WHERE id = %s", (configuration_id,))
        return cur.fetchone()["version"]


def moment(text: str) -> datetime:
    """Parse an RFC 3339 timestamp the API answered."""
    assert TIMESTAMP_RE.fullmatch(text), text
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


@pytest.fixture
def configuration(client: Any) -> dict[str, Any]:
    """A configuration at version 1: name "database", comments "one", config {"a": 1}."""
    application = create_application(client)
    return create_configuration(client, application["id"], config={"a": 1}, comments="one")


def write(client: Any, configuration_id: str, **fields: Any) -> dict[str, Any]:
    """PATCH some fields and return the answered configuration (which must have changed)."""
    response = client.patch(f"{API}/{configuration_id}", json=fields)
    assert response.status_code == 200, response.get_json()
    return response.get_json()


@pytest.fixture
def five_versions(client: Any, configuration: dict[str, Any]) -> list[dict[str, Any]]:
    """The configuration after writes of config, comments, name, then all: versions 1-5."""
    cid = configuration["id"]
    states = [configuration]
    states.append(write(client, cid, config={"a": 2}))
    states.append(write(client, cid, comments=None))
    states.append(write(client, cid, name="database-2"))
    body = {"name": "database-3", "comments": "five", "config": {"b": [1, 2]}}
    response = client.put(f"{API}/{cid}", json=body)
    states.append(assert_configuration(response, 5))
    assert [state["version"] for state in states] == [1, 2, 3, 4, 5]
    return states


def as_item(state: dict[str, Any]) -> dict[str, Any]:
    """Return the history item a configuration state should appear as."""
    return {
        "version": state["version"],
        "name": state["name"],
        "comments": state["comments"],
        "config": state["config"],
        "schema": state["schema"],
        "created_at": state["updated_at"],
    }


# Listing


def test_every_version_is_listed_newest_first(client, db, five_versions):
    cid = five_versions[0]["id"]
    response = client.get(f"{API}/{cid}/versions")
    assert response.status_code == 200
    body = response.get_json()
    assert body["next_cursor"] is None
    assert [list(item) for item in body["items"]] == [ITEM_FIELDS] * 5
    assert body["items"] == [as_item(state) for state in reversed(five_versions)]
    times = [moment(item["created_at"]) for item in body["items"]]
    assert times == sorted(times, reverse=True)
    assert [row["version"] for row in history(db, cid)] == [1, 2, 3, 4, 5]


def test_version_one_is_listed_right_after_creation(client, configuration):
    response = client.get(f"{API}/{configuration['id']}/versions")
    assert response.status_code == 200
    assert response.get_json() == {"items": [as_item(configuration)], "next_cursor": None}


def test_cursor_pages_backwards_without_gaps_or_duplicates(client, five_versions):
    cid = five_versions[0]["id"]
    pages, cursor = [], None
    while True:
        query = {"limit": 2} if cursor is None else {"limit": 2, "cursor": cursor}
        response = client.get(f"{API}/{cid}/versions", query_string=query)
        assert response.status_code == 200
        body = response.get_json()
        pages.append([item["version"] for item in body["items"]])
        cursor = body["next_cursor"]
        if cursor is None:
            break
        assert len(pages) < 5, "the cursor never ends"
    assert pages == [[5, 4], [3, 2], [1]]


def test_an_exact_last_page_has_no_cursor(client, five_versions):
    response = client.get(f"{API}/{five_versions[0]['id']}/versions", query_string={"limit": 5})
    body = response.get_json()
    assert [item["version"] for item in body["items"]] == [5, 4, 3, 2, 1]
    assert body["next_cursor"] is None


def _cursor(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


@pytest.mark.parametrize(
    "query",
    [
        {"cursor": "!!!"},
        {"cursor": _cursor("abc")},
        {"cursor": _cursor("-1")},
        {"cursor": _cursor("01ARZ3NDEKTSV4RRFFQ69G5FAV")},  # an id cursor from another list
        {"cursor": _cursor("9" * 13)},
        {"cursor": ""},
        {"limit": "0"},
        {"limit": "501"},
        {"limit": "abc"},
    ],
)
def test_bad_list_parameters_get_400(client, configuration, query):
    response = client.get(f"{API}/{configuration['id']}/versions", query_string=query)
    body = assert_problem(response, 400)
    assert set(body["errors"]) == set(query)


def test_versions_of_an_unknown_configuration_are_404(client):
    assert_problem(client.get(f"{API}/{UNKNOWN_ID}/versions"), 404)
    assert_problem(client.get(f"{API}/not-a-ulid/versions"), 404)


# One version


def test_one_version_is_answered(client, five_versions):
    cid = five_versions[0]["id"]
    for state in five_versions:
        response = client.get(f"{API}/{cid}/versions/{state['version']}")
        assert response.status_code == 200
        assert response.mimetype == "application/json"
        assert list(response.get_json()) == ITEM_FIELDS
        assert response.get_json() == as_item(state)


@pytest.mark.parametrize("version", ["2", "0", "-1", "abc", "1.0", "99999999999", "2147483648"])
def test_an_unknown_or_malformed_version_is_404(client, configuration, version):
    cid = configuration["id"]
    assert_problem(client.get(f"{API}/{cid}/versions/{version}"), 404)
    assert_problem(client.post(f"{API}/{cid}/versions/{version}/restore"), 404)


def test_one_version_of_an_unknown_configuration_is_404(client, configuration):
    assert_problem(client.get(f"{API}/{UNKNOWN_ID}/versions/1"), 404)
    assert_problem(client.post(f"{API}/{UNKNOWN_ID}/versions/1/restore"), 404)


# Restore


def test_restore_writes_a_new_version_with_that_config_and_comments(client, db, five_versions):
    cid = five_versions[0]["id"]
    response = client.post(f"{API}/{cid}/versions/1/restore")
    body = assert_configuration(response, 6)
    assert body["config"] == {"a": 1}
    assert body["comments"] == "one"
    assert body["name"] == "database-3"  # the name is kept
    assert moment(body["updated_at"]) > moment(five_versions[-1]["updated_at"])
    rows = history(db, cid)
    assert [row["version"] for row in rows] == [1, 2, 3, 4, 5, 6]
    assert rows[-1] == {"version": 6, "name": "database-3", "comments": "one", "config": {"a": 1}}
    assert client.get(f"{API}/{cid}/versions/6").get_json() == as_item(body)
    assert_configuration(client.get(f"{API}/{cid}"), 6)


def test_restore_brings_back_null_comments(client, db, five_versions):
    cid = five_versions[0]["id"]
    body = assert_configuration(client.post(f"{API}/{cid}/versions/3/restore"), 6)
    assert (body["comments"], body["config"]) == (None, {"a": 2})
    assert history(db, cid)[-1]["comments"] is None


@pytest.mark.parametrize("restored", [1, 5])
def test_restoring_to_an_identical_state_writes_no_version(client, db, configuration, restored):
    cid = configuration["id"]
    for patch in ({"a": 2}, {"b": 3}, {"b": None}, {"a": 1}):  # version 5 equals version 1
        write(client, cid, config=patch)
    before = history(db, cid)
    assert before[4] == {**before[0], "version": 5}
    current = client.get(f"{API}/{cid}").get_json()

    response = client.post(f"{API}/{cid}/versions/{restored}/restore")

    assert assert_configuration(response, 5) == current  # updated_at did not move either
    assert history(db, cid) == before
    assert stored_version(db, cid) == 5


def test_restore_honours_if_match(client, db, five_versions):
    cid = five_versions[0]["id"]
    for stale in ('"4"', '"1", "2"', 'W/"5"', '"05"', "5"):
        response = client.post(f"{API}/{cid}/versions/1/restore", headers={"If-Match": stale})
        body = assert_problem(response, 412)
        assert re.search(r"\b5\b", body["detail"]), body["detail"]
    assert len(history(db, cid)) == 5
    assert stored_version(db, cid) == 5

    response = client.post(f"{API}/{cid}/versions/1/restore", headers={"If-Match": '"4", "5"'})
    assert_configuration(response, 6)
    response = client.post(f"{API}/{cid}/versions/2/restore", headers={"If-Match": "*"})
    assert_configuration(response, 7)
    assert [row["version"] for row in history(db, cid)] == list(range(1, 8))


def test_restore_of_an_unknown_version_is_404_whatever_if_match_says(client, db, configuration):
    """RFC 9110 13.2.1: preconditions are ignored when the answer without them is not 2xx."""
    cid = configuration["id"]
    for if_match in ('"7"', '"1"', "*"):
        response = client.post(f"{API}/{cid}/versions/9/restore", headers={"If-Match": if_match})
        assert_problem(response, 404)
    assert len(history(db, cid)) == 1
    assert stored_version(db, cid) == 1


# Writes that change nothing, deletes, 412 details


@pytest.mark.parametrize(
    "method, body",
    [
        ("patch", {}),
        ("patch", {"config": {}}),
        ("patch", {"config": {"a": 1}}),
        ("patch", {"config": {"missing": None}}),
        ("patch", {"name": "database", "comments": "one"}),
        ("put", {"name": "database", "comments": "one", "config": {"a": 1}}),
    ],
)
def test_a_write_that_changes_nothing_keeps_the_version(client, db, configuration, method, body):
    cid = configuration["id"]
    response = getattr(client, method)(f"{API}/{cid}", json=body, headers={"If-Match": '"1"'})
    assert assert_configuration(response, 1) == configuration
    assert history(db, cid) == [
        {"version": 1, "name": "database", "comments": "one", "config": {"a": 1}}
    ]
    assert stored_version(db, cid) == 1


def test_delete_removes_the_history(client, db, five_versions):
    cid = five_versions[0]["id"]
    other = create_configuration(client, five_versions[0]["application_id"], name="other")
    assert client.delete(f"{API}/{cid}").status_code == 204
    assert history(db, cid) == []
    assert len(history(db, other["id"])) == 1  # only the deleted one's history goes
    assert_problem(client.get(f"{API}/{cid}/versions"), 404)
    assert_problem(client.get(f"{API}/{cid}/versions/1"), 404)
    assert_problem(client.post(f"{API}/{cid}/versions/1/restore"), 404)


@pytest.mark.parametrize(
    "method, body",
    [
        ("patch", {"config": {"x": 1}}),
        ("put", {"name": "database", "config": {"x": 1}}),
        ("delete", None),
    ],
)
def test_412_names_the_current_version(client, db, five_versions, method, body):
    cid = five_versions[0]["id"]
    response = getattr(client, method)(f"{API}/{cid}", json=body, headers={"If-Match": '"3"'})
    problem = assert_problem(response, 412)
    assert re.search(r"\b5\b", problem["detail"]), problem["detail"]
    assert len(history(db, cid)) == 5
    assert stored_version(db, cid) == 5


def _walk(client: Any, url: str) -> list[list[Any]]:
    """Follow next_cursor from the first page to the last; return each page's items."""
    pages, cursor = [], None
    while True:
        response = client.get(url + (f"&cursor={cursor}" if cursor else ""))
        assert response.status_code == 200, response.get_json()
        body = response.get_json()
        pages.append(body["items"])
        cursor = body["next_cursor"]
        if cursor is None:
            return pages


def test_a_page_of_big_versions_stops_at_max_page_bytes(client, app, configuration):
    # ten versions of ~1 MB each: 500 of them would have been one 500 MB answer
    cid, blob = configuration["id"], 1_000_000
    for letter in "bcdefghij":
        write(client, cid, config={"blob": letter * blob})
    cap = app.config["MAX_PAGE_BYTES"]
    assert cap == 4 * 1024 * 1024  # the default

    pages = _walk(client, f"{API}/{cid}/versions?limit=500")

    sizes = [sum(len(item["config"].get("blob", "")) for item in items) for items in pages]
    assert [len(items) for items in pages] == [5, 5]  # the 5th item crosses the cap
    assert all(size < cap + blob + 1000 for size in sizes)  # at most one item past it
    versions = [item["version"] for items in pages for item in items]
    assert versions == list(range(10, 0, -1))  # every version, once, newest first


@pytest.mark.parametrize("limit", [1, 2, 50])
def test_each_item_past_a_tiny_cap_gets_its_own_page(app_settings, make_app, limit) -> None:
    client = make_app(**{**app_settings, "MAX_PAGE_BYTES": 1}).test_client()
    application = create_application(client)
    cid = create_configuration(client, application["id"], config={"a": 1})["id"]
    for value in range(2, 5):
        write(client, cid, config={"a": value})

    pages = _walk(client, f"{API}/{cid}/versions?limit={limit}")

    assert [[item["version"] for item in items] for items in pages] == [[4], [3], [2], [1]]
