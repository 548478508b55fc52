"""Overlays: per configuration and environment a merge patch, with versions and history;
configurations resolved for an environment; the schema held by every environment."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from tests.helpers import assert_problem, create_application, create_configuration
from tests.test_environments import create_environment

API = "/api/v1/configurations"
BY_NAME = "/api/v1/applications/by-name/billing/configurations/database"
BASE = {"host": "db1", "pool": {"max": 20, "min": 1}, "debug": False}


@pytest.fixture
def configuration(client: Any) -> dict[str, Any]:
    """Configuration billing/database, with environments staging and production."""
    application = create_application(client, "billing")
    create_environment(client, "staging")
    create_environment(client, "production")
    return create_configuration(client, application["id"], "database", config=BASE)


@pytest.fixture
def url(configuration: dict[str, Any]) -> str:
    """The URL of the configuration's staging overlay."""
    return f"{API}/{configuration['id']}/environments/staging"


def test_put_creates_then_replaces_with_versions(client: Any, url: str, configuration) -> None:
    created = client.put(url, json={"patch": {"host": "db-staging"}, "comments": "c"})
    assert created.status_code == 201 and created.headers["ETag"] == '"1"'
    assert created.headers["Location"].endswith(url)
    body = created.get_json()
    assert list(body) == [
        "configuration_id", "environment", "patch", "comments", "version", "created_at",
        "updated_at",
    ]  # fmt: skip
    assert body["configuration_id"] == configuration["id"] and body["environment"] == "staging"
    replaced = client.put(url, json={"patch": {"host": "db-s2"}})
    assert replaced.status_code == 200 and replaced.get_json()["version"] == 2
    assert replaced.get_json()["comments"] is None  # absent comments: null
    same = client.put(url, json={"patch": {"host": "db-s2"}})
    assert same.status_code == 200 and same.headers["ETag"] == '"2"'
    assert client.get(url).get_json() == replaced.get_json()
    assert client.get(url, headers={"If-None-Match": '"2"'}).status_code == 304


def test_if_match_and_if_none_match_star(client: Any, url: str) -> None:
    assert_problem(client.put(url, json={"patch": {}}, headers={"If-Match": "*"}), 412)
    only_create = {"If-None-Match": "*"}
    assert client.put(url, json={"patch": {}}, headers=only_create).status_code == 201
    assert_problem(client.put(url, json={"patch": {"a": 1}}, headers=only_create), 412)
    assert_problem(client.put(url, json={"patch": {"a": 1}}, headers={"If-Match": '"2"'}), 412)
    ok = client.put(url, json={"patch": {"a": 1}}, headers={"If-Match": '"1"'})
    assert ok.status_code == 200 and ok.headers["ETag"] == '"2"'
    assert_problem(client.delete(url, headers={"If-Match": '"1"'}), 412)
    assert client.delete(url, headers={"If-Match": '"2"'}).status_code == 204
    assert_problem(client.get(url), 404)
    assert_problem(client.delete(url), 404)


def test_list_and_history(client: Any, url: str, configuration) -> None:
    client.put(url, json={"patch": {"a": 1}})
    client.put(url, json={"patch": {"a": 2}})
    production = url.replace("staging", "production")
    client.put(production, json={"patch": {"a": 3}})
    listed = client.get(f"{API}/{configuration['id']}/environments?limit=1").get_json()
    assert [item["environment"] for item in listed["items"]] == ["production"]
    rest = client.get(
        f"{API}/{configuration['id']}/environments?cursor={listed['next_cursor']}"
    ).get_json()
    assert [item["environment"] for item in rest["items"]] == ["staging"]
    history = client.get(f"{url}/versions").get_json()
    assert [(v["version"], v["patch"]) for v in history["items"]] == [(2, {"a": 2}), (1, {"a": 1})]
    page = client.get(f"{url}/versions?limit=1").get_json()
    older = client.get(f"{url}/versions?limit=1&cursor={page['next_cursor']}").get_json()
    assert older["items"][0]["version"] == 1 and older["next_cursor"] is None


def test_recreated_overlay_continues_its_numbering(client: Any, url: str) -> None:
    client.put(url, json={"patch": {"a": 1}})
    client.delete(url)
    again = client.put(url, json={"patch": {"a": 9}})
    assert again.status_code == 201 and again.get_json()["version"] == 2


@pytest.mark.parametrize(
    ("path", "status"),
    [
        ("environments/nowhere", 404),
        ("environments/bad%00name", 404),
    ],
)
def test_unknown_environment_or_configuration_is_404(client, configuration, path, status):
    base = f"{API}/{configuration['id']}"
    assert_problem(client.put(f"{base}/{path}", json={"patch": {}}), status)
    assert_problem(client.get(f"{base}/{path}"), status)
    assert_problem(client.get(f"{base}/{path}/versions"), status)
    assert_problem(client.delete(f"{base}/{path}"), status)
    unknown = f"{API}/01ARZ3NDEKTSV4RRFFQ69G5FAV/environments/staging"
    assert_problem(client.put(unknown, json={"patch": {}}), 404)
    assert_problem(client.get(f"{API}/01ARZ3NDEKTSV4RRFFQ69G5FAV/environments"), 404)


def _deep(levels: int) -> dict[str, Any]:
    value: dict[str, Any] = {}
    for _ in range(levels - 1):
        value = {"k": value}
    return value


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"patch": []},
        {"patch": "x"},
        {"patch": None},
        {"patch": _deep(33)},
        {"patch": {"a": "\u0000"}},
        {"patch": {}, "version": 3},
        {"patch": {}, "environment": "staging"},
        {"patch": {}, "comments": "x" * 1025},
    ],
)
def test_a_bad_body_is_422(client: Any, url: str, body: dict) -> None:
    assert_problem(client.put(url, json=body), 422)


def test_bad_transport_is_400_413_415(client: Any, url: str) -> None:
    assert_problem(client.put(url, data="{", content_type="application/json"), 400)
    assert_problem(client.put(url, data="{}", content_type="text/plain"), 415)
    big = '{"patch": {"a": "' + "x" * (1024 * 1024) + '"}}'
    assert_problem(client.put(url, data=big, content_type="application/json"), 413)


def test_a_deep_but_allowed_patch_resolves(client: Any, url: str, configuration) -> None:
    assert client.put(url, json={"patch": {"pool": _deep(31)}}).status_code == 201
    assert client.get(f"{API}/{configuration['id']}?environment=staging").status_code == 200


# Resolved reads


@pytest.fixture(params=["by-id", "by-name"])
def read(request: pytest.FixtureRequest, configuration: dict[str, Any]) -> str:
    return f"{API}/{configuration['id']}" if request.param == "by-id" else BY_NAME


def test_resolved_read_merges_the_overlay(client: Any, url: str, read: str) -> None:
    client.put(url, json={"patch": {"host": "db-s", "pool": {"min": None}, "debug": True}})
    response = client.get(f"{read}?environment=staging")
    assert response.status_code == 200
    body = response.get_json()
    assert body["config"] == {"host": "db-s", "pool": {"max": 20}, "debug": True}
    assert body["environment"] == "staging" and body["overlay_version"] == 1
    assert body["version"] == 1 and response.headers["ETag"] == '"1.1"'
    assert response.headers["Cache-Control"] == "no-cache"
    assert (
        client.get(f"{read}?environment=staging", headers={"If-None-Match": '"1.1"'}).status_code
        == 304
    )
    plain = client.get(read)
    assert plain.headers["ETag"] == '"1"' and "environment" not in plain.get_json()
    assert plain.get_json()["config"] == BASE


def test_without_an_overlay_the_base_is_answered(client: Any, read: str) -> None:
    response = client.get(f"{read}?environment=production")
    assert response.get_json()["config"] == BASE
    assert response.get_json()["overlay_version"] == 0 and response.headers["ETag"] == '"1.0"'


@pytest.mark.parametrize("environment", ["nowhere", "", "bad%00name", "x" * 129])
def test_an_unknown_environment_is_404(client: Any, read: str, environment: str) -> None:
    assert_problem(client.get(f"{read}?environment={environment}"), 404)


def test_a_change_to_the_base_is_seen_in_every_environment(client, url, configuration) -> None:
    client.put(url, json={"patch": {"host": "db-s"}})
    client.get(f"{API}/{configuration['id']}?environment=staging")  # now cached
    client.patch(f"{API}/{configuration['id']}", json={"config": {"pool": {"max": 50}}})
    staging = client.get(f"{API}/{configuration['id']}?environment=staging")
    assert staging.headers["ETag"] == '"2.1"'
    assert staging.get_json()["config"]["pool"] == {"max": 50, "min": 1}
    production = client.get(f"{BY_NAME}?environment=production").get_json()
    assert production["config"]["pool"]["max"] == 50 and production["config"]["host"] == "db1"


def test_deleting_the_configuration_deletes_its_overlays(client, url, configuration, db) -> None:
    client.put(url, json={"patch": {"a": 1}})
    assert client.delete(f"{API}/{configuration['id']}").status_code == 204
    with db.cursor() as cur:
        cur.execute("SELECT count(*) AS n FROM overlays")
        assert cur.fetchone()["n"] == 0
        cur.execute("SELECT count(*) AS n FROM overlay_versions")
        assert cur.fetchone()["n"] == 0


def test_deleting_the_application_with_cascade_deletes_overlays(client, url, configuration):
    client.put(url, json={"patch": {"a": 1}})
    application_id = configuration["application_id"]
    assert client.delete(f"/api/v1/applications/{application_id}?cascade=true").status_code == 204
    assert client.delete("/api/v1/environments/staging").status_code == 204  # no longer in use


# The schema holds for the base and every resolved environment

SCHEMA = {
    "type": "object",
    "properties": {"pool": {"type": "object", "properties": {"max": {"maximum": 100}}}},
}


def test_an_overlay_breaking_the_schema_is_422(client: Any, url: str, configuration) -> None:
    client.patch(f"{API}/{configuration['id']}", json={"schema": SCHEMA})
    problem = assert_problem(client.put(url, json={"patch": {"pool": {"max": 500}}}), 422)
    assert problem["errors"] == {
        "environments.staging": ["/pool/max: 500 is greater than the maximum of 100"]
    }
    assert_problem(client.get(url), 404)


def test_a_base_or_schema_write_breaking_an_environment_is_422(client, url, configuration):
    client.put(url, json={"patch": {"pool": {"max": 90}}})
    client.put(url.replace("staging", "production"), json={"patch": {"pool": {"max": 99}}})
    conf = f"{API}/{configuration['id']}"
    assert client.patch(conf, json={"schema": SCHEMA}).status_code == 200
    tighter = {**SCHEMA, "properties": {"pool": {"properties": {"max": {"maximum": 95}}}}}
    problem = assert_problem(client.patch(conf, json={"schema": tighter}), 422)
    assert list(problem["errors"]) == ["environments.production"]
    # a base write is checked for every environment too, the base under `config`
    replace = {"name": "database", "config": {"pool": {"max": 200}}, "schema": SCHEMA}
    problem = assert_problem(client.put(conf, json=replace), 422)
    assert list(problem["errors"]) == ["config"]
    # an overlay that sets the key keeps its environment valid whatever the base says
    client.delete(url.replace("staging", "production"))
    ok = client.put(conf, json={**replace, "config": {"pool": {"max": 100}}})
    assert ok.status_code == 200, ok.get_json()


def test_the_base_breaking_only_through_an_environment(client, url, configuration) -> None:
    schema = {"type": "object", "required": ["host"]}
    client.put(url, json={"patch": {"host": None}})  # staging deletes host
    conf = f"{API}/{configuration['id']}"
    problem = assert_problem(client.patch(conf, json={"schema": schema}), 422)
    assert problem["errors"] == {"environments.staging": [": 'host' is a required property"]}
    assert client.get(conf).get_json()["schema"] is None


def test_overlay_writes_are_audited(client: Any, url: str, configuration) -> None:
    client.put(url, json={"patch": {"a": 1}})
    client.put(url, json={"patch": {"a": 1}})  # changes nothing: no entry
    client.put(url, json={"patch": {"a": 2}})
    client.delete(url)
    entries = client.get(f"/api/v1/audit?resource_id={configuration['id']}").get_json()["items"]
    seen = [(e["action"], e["resource_type"], e["version"], e["environment"]) for e in entries]
    assert seen == [
        ("delete", "overlay", 2, "staging"),
        ("update", "overlay", 2, "staging"),
        ("create", "overlay", 1, "staging"),
        ("create", "configuration", 1, None),
    ]


def test_the_readme_example(client: Any) -> None:
    """The README's worked example: base, staging and production; a base change seen in both."""
    application = create_application(client, "billing-api")
    conf = create_configuration(client, application["id"], "database", {"host": "db1"})
    create_environment(client, "staging")
    create_environment(client, "production")
    base = {"host": "db1", "pool": {"max": 10}, "debug": True}
    client.put(f"{API}/{conf['id']}", json={"name": "database", "config": base})
    overlays = f"{API}/{conf['id']}/environments"
    client.put(f"{overlays}/staging", json={"patch": {"host": "db-staging"}})
    prod = {"host": "db-prod", "pool": {"max": 50}, "debug": None}
    client.put(f"{overlays}/production", json={"patch": prod})
    by_name = "/api/v1/applications/by-name/billing-api/configurations/database?environment="
    staging = client.get(f"{by_name}staging")
    assert staging.headers["ETag"] == '"2.1"'
    assert staging.get_json()["config"] == {
        "host": "db-staging",
        "pool": {"max": 10},
        "debug": True,
    }
    production = client.get(f"{by_name}production").get_json()
    assert production["config"] == {"host": "db-prod", "pool": {"max": 50}}
    client.patch(f"{API}/{conf['id']}", json={"config": {"timeout_ms": 500}})
    assert client.get(f"{API}/{conf['id']}?environment=staging").get_json()["config"] == {
        "host": "db-staging", "pool": {"max": 10}, "debug": True, "timeout_ms": 500,
    }  # fmt: skip
    assert client.get(f"{API}/{conf['id']}?environment=production").get_json()["config"] == {
        "host": "db-prod", "pool": {"max": 50}, "timeout_ms": 500,
    }  # fmt: skip


def test_diff_between_overlay_versions(client: Any, url: str) -> None:
    client.put(url, json={"patch": {"a": 1, "b": [1]}})
    client.put(url, json={"patch": {"b": [1, 2]}})
    answer = client.get(f"{url}/versions/1/diff").get_json()
    assert answer == {
        "from": 1,
        "to": 2,
        "patch": [{"op": "remove", "path": "/a"}, {"op": "add", "path": "/b/1", "value": 2}],
    }
    assert client.get(f"{url}/versions/2/diff?to=2").get_json()["patch"] == []
    assert_problem(client.get(f"{url}/versions/3/diff"), 404)
    assert_problem(client.get(f"{url}/versions/1/diff?to=9"), 404)
    assert_problem(client.get(f"{url}/versions/1/diff?to=x"), 400)
    assert_problem(client.get(f"{url.replace('staging', 'production')}/versions/1/diff"), 404)


def test_two_writers_holding_one_etag_one_wins(app: Any, client: Any, url: str) -> None:
    client.put(url, json={"patch": {"n": 0}})
    barrier = threading.Barrier(2)

    def write(n: int) -> int:
        barrier.wait()
        response = app.test_client().put(url, json={"patch": {"n": n}}, headers={"If-Match": '"1"'})
        return response.status_code

    with ThreadPoolExecutor(2) as pool:
        statuses = sorted(pool.map(write, (1, 2)))
    assert statuses == [200, 412]
    history = client.get(f"{url}/versions").get_json()["items"]
    assert [item["version"] for item in history] == [2, 1]
