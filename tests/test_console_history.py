"""A configuration's history, restore, environments and schema pages in the console."""

from __future__ import annotations

from typing import Any

import pytest

from tests.console import CONFIG, SCHEMA, Browser, element, hidden, items, seed, signed_in


@pytest.fixture
def app_settings(app_settings: dict[str, Any]) -> dict[str, Any]:
    return {**app_settings, "AUTH_ENABLED": True}


@pytest.fixture
def world(app: Any, db: Any) -> dict[str, Any]:
    """A configuration at version 3: port 5432, then 5433, then debug on."""
    world = seed(app, db)
    path = f"/api/v1/configurations/{world['configuration']['id']}"
    for change in ({"db": {"host": "db1", "port": 5433}}, {"debug": True}):
        response = world["api"].patch(path, json={"config": change})
        assert response.status_code == 200, response.get_json()
    return world


@pytest.fixture
def writer(app: Any, db: Any) -> Browser:
    return signed_in(app, db, "alice", "writer")


def test_history_lists_versions_with_who_and_diffs_any_two(writer: Browser, world: dict) -> None:
    configuration_id = world["configuration"]["id"]
    page = writer.get(f"/configurations/{configuration_id}/history?a=1&b=3").get_data(as_text=True)
    versions = element(page, "ol", "versions")
    assert versions.count("<li") == 3
    assert "Version 3 (current)" in versions and "by seed-" in versions
    assert items(page, "diff") == ["replace /db/port: 5432 → 5433", "replace /debug: false → true"]
    assert '<select id="a" name="a">' in page and '<select id="b" name="b">' in page
    back = writer.get(f"/configurations/{configuration_id}/history?a=3&b=2").get_data(as_text=True)
    assert items(back, "diff") == ["replace /debug: true → false"]
    assert page.count(">Restore</button>") == 2  # not the current version


def test_restore_writes_the_old_version_as_the_next(writer: Browser, world: dict, db: Any) -> None:
    configuration_id = world["configuration"]["id"]
    page = writer.get(f"/configurations/{configuration_id}/history").get_data(as_text=True)
    data = {"csrf_token": hidden(page, "csrf_token", 1), "base_version": "3"}
    response = writer.post(f"/configurations/{configuration_id}/history/1/restore", data)
    assert response.status_code == 303
    assert response.headers["Location"].endswith("?saved=4")
    cur = db.cursor()
    cur.execute("SELECT version, config FROM configurations")
    assert cur.fetchone() == {"version": 4, "config": CONFIG}
    cur.execute("SELECT actor, action FROM audit_log ORDER BY id DESC LIMIT 1")
    assert cur.fetchone() == {"actor": "alice", "action": "restore"}


def test_restore_from_a_stale_history_is_a_conflict(writer: Browser, world: dict, db: Any) -> None:
    configuration_id = world["configuration"]["id"]
    page = writer.get(f"/configurations/{configuration_id}/history").get_data(as_text=True)
    world["api"].patch(f"/api/v1/configurations/{configuration_id}", json={"comments": "x"})
    data = {"csrf_token": hidden(page, "csrf_token"), "base_version": "3"}
    response = writer.post(f"/configurations/{configuration_id}/history/1/restore", data)
    text = response.get_data(as_text=True)
    assert response.status_code == 409
    assert 'id="conflict"' in text and "Someone saved version 4 first</h1>" in text
    cur = db.cursor()
    cur.execute("SELECT version FROM configurations")
    assert cur.fetchone()["version"] == 4


def test_restore_of_an_unknown_version_is_a_404_page(writer: Browser, world: dict) -> None:
    configuration_id = world["configuration"]["id"]
    data = {"csrf_token": writer.form_token("/applications"), "base_version": "3"}
    response = writer.post(f"/configurations/{configuration_id}/history/9/restore", data)
    assert response.status_code == 404 and response.mimetype == "text/html"


def test_environments_show_resolved_documents_and_where_each_key_comes_from(
    app: Any, db: Any, writer: Browser, world: dict
) -> None:
    api, configuration_id = world["api"], world["configuration"]["id"]
    for name in ("production", "staging"):
        assert api.post("/api/v1/environments", json={"name": name}).status_code == 201
    overlay = {"patch": {"db": {"host": "prod-db"}, "level": "warning"}}
    path = f"/api/v1/configurations/{configuration_id}/environments/production"
    assert api.put(path, json=overlay).status_code == 201
    page = writer.get(f"/configurations/{configuration_id}/environments").get_data(as_text=True)
    production = element(page, "section", "env-production")
    assert '"host": "prod-db"' in production and '"port": 5433' in production
    rows = dict(
        (where, layer)
        for where, layer in __import__("re").findall(
            r"<tr><td><code>([^<]*)</code></td><td>([^<]*)</td></tr>", production
        )
    )
    assert rows == {
        "/db/host": "overlay production",
        "/db/port": "base",
        "/debug": "base",
        "/level": "overlay production",
    }
    staging = element(page, "section", "env-staging")
    assert "overlay" not in staging and '"host": "db1"' in staging


def test_schema_page_shows_the_schema_or_says_none(
    app: Any, db: Any, writer: Browser, world: dict
) -> None:
    configuration_id = world["configuration"]["id"]
    page = writer.get(f"/configurations/{configuration_id}/schema").get_data(as_text=True)
    assert '"maximum": 65535' in element(page, "pre", "schema")
    plain = seed(app, db, "plain", schema=None)
    text = writer.get(f"/configurations/{plain['configuration']['id']}/schema").get_data(
        as_text=True
    )
    assert "No schema." in text and 'id="schema"' not in text
    assert SCHEMA["type"] == "object"


def test_restoring_a_version_the_schema_now_refuses_is_a_422_page(
    writer: Browser, world: dict, db: Any
) -> None:
    configuration_id = world["configuration"]["id"]
    strict = {**SCHEMA, "properties": {**SCHEMA["properties"], "debug": {"const": True}}}
    response = world["api"].patch(
        f"/api/v1/configurations/{configuration_id}", json={"schema": strict}
    )
    assert response.status_code == 200, response.get_json()
    data = {"csrf_token": writer.form_token("/applications"), "base_version": "4"}
    refused = writer.post(f"/configurations/{configuration_id}/history/1/restore", data)
    assert refused.status_code == 422 and refused.mimetype == "text/html"
    assert "/debug" in refused.get_data(as_text=True)
    cur = db.cursor()
    cur.execute("SELECT version FROM configurations")
    assert cur.fetchone()["version"] == 4
