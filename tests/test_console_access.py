"""Who sees what in the console: roles, scoped tokens, the audit log, and long lists paged."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest

from tests.console import CONFIG, element, hidden, seed, signed_in

PAGE_SIZE = 50


@pytest.fixture
def app_settings(app_settings: dict[str, Any]) -> dict[str, Any]:
    return {**app_settings, "AUTH_ENABLED": True}


@pytest.fixture
def world(app: Any, db: Any) -> dict[str, Any]:
    return seed(app, db)


def test_a_reader_sees_no_edit_or_restore_and_may_not_post(app: Any, db: Any, world: dict) -> None:
    reader = signed_in(app, db, "rita", "reader")
    configuration_id = world["configuration"]["id"]
    page = reader.get(f"/configurations/{configuration_id}").get_data(as_text=True)
    assert 'id="document"' in page and 'id="edit"' not in page
    world["api"].put(
        f"/api/v1/configurations/{configuration_id}",
        json={"name": "database", "config": {**CONFIG, "debug": True}},
    )
    history = reader.get(f"/configurations/{configuration_id}/history").get_data(as_text=True)
    assert ">Restore</button>" not in history
    assert reader.get(f"/configurations/{configuration_id}/edit").status_code == 403
    token = reader.form_token("/applications")
    data = {"csrf_token": token, "base_version": "2", "raw": "{}", "document": "{}"}
    for action in ("review", "save", "edit-again", "history/1/restore"):
        response = reader.post(f"/configurations/{configuration_id}/{action}", data)
        assert response.status_code == 403, action
        assert "needs the writer role" in response.get_data(as_text=True)
    cur = db.cursor()
    cur.execute("SELECT version FROM configurations")
    assert cur.fetchone()["version"] == 2


def test_the_audit_log_is_for_admins(app: Any, db: Any, world: dict) -> None:
    writer = signed_in(app, db, "walt", "writer")
    assert writer.get("/audit").status_code == 403
    assert "Audit</a>" not in writer.get("/applications").get_data(as_text=True)
    admin = signed_in(app, db, "ada", "admin")
    page = admin.get("/audit").get_data(as_text=True)
    assert "Audit</a>" in admin.get("/applications").get_data(as_text=True)
    assert world["configuration"]["id"] in element(page, "table", "audit")
    scoped = signed_in(app, db, "sam", "admin", ("billing",))
    assert scoped.get("/audit").status_code == 403


def test_a_scoped_token_sees_only_its_applications(app: Any, db: Any, world: dict) -> None:
    other = seed(app, db, "payroll")
    scoped = signed_in(app, db, "sam", "writer", ("billing",))
    listing = scoped.get("/applications").get_data(as_text=True)
    assert "billing" in listing and "payroll" not in listing
    foreign_app = other["application"]["id"]
    foreign = other["configuration"]["id"]
    assert scoped.get(f"/applications/{foreign_app}").status_code == 404
    for suffix in ("", "/edit", "/history", "/environments", "/schema", "/watch?version=1"):
        response = scoped.get(f"/configurations/{foreign}{suffix}")
        assert response.status_code == 404, suffix
        assert "payroll" not in response.get_data(as_text=True)
    token = scoped.form_token("/applications")
    data = {"csrf_token": token, "base_version": "1", "document": "{}", "raw": "{}"}
    for action in ("review", "save", "history/1/restore"):
        assert scoped.post(f"/configurations/{foreign}/{action}", data).status_code == 404
    own = world["configuration"]["id"]
    assert scoped.get(f"/configurations/{own}").status_code == 200


def test_applications_are_searched_by_prefix_and_paged(app: Any, db: Any) -> None:
    cur = db.cursor()
    cur.execute(
        "INSERT INTO applications (id, name)"
        " SELECT '01J00000000000000000' || lpad(n::text, 6, '0'), 'app-' || lpad(n::text, 3, '0')"
        " FROM generate_series(1, 120) n"
    )
    admin = signed_in(app, db, "ada", "admin")
    first = admin.get("/applications?prefix=app-").get_data(as_text=True)
    assert element(first, "table", "applications").count("<tr>") == PAGE_SIZE + 1  # + header
    assert (
        'id="next" href="/console/applications?after=01J00000000000000000000050&amp;prefix=app-"'
        in first
    )
    search = admin.get("/applications?prefix=app-11").get_data(as_text=True)
    assert search.count('">app-11') == 10 and 'id="next"' not in search


def test_ten_thousand_configurations_page_without_loading_them_all(
    app: Any, db: Any, world: dict
) -> None:
    application_id = world["application"]["id"]
    cur = db.cursor()
    cur.execute(
        "INSERT INTO configurations (id, application_id, name, config)"
        " SELECT '01K' || lpad(n::text, 23, '0'), %s, 'conf-' || n, '{\"n\": 1}'"
        " FROM generate_series(1, 10000) n",
        (application_id,),
    )
    admin = signed_in(app, db, "ada", "admin")
    started = time.monotonic()
    page = admin.get(f"/applications/{application_id}").get_data(as_text=True)
    elapsed = time.monotonic() - started
    assert element(page, "table", "configurations").count("<tr>") == PAGE_SIZE + 1
    href = f"/console/applications/{application_id}?after=01K{'0' * 21}50"
    assert f'id="next" href="{href}"' in page
    second = admin.client.get(href).get_data(as_text=True)
    assert "conf-51<" in second and "conf-50<" not in second
    last = admin.get(f"/applications/{application_id}?after=01K{'0' * 19}9990").get_data(
        as_text=True
    )
    assert 'id="next"' not in last
    assert elapsed < 2.0  # a page is one index range scan, however many there are


def test_a_one_megabyte_configuration_renders_within_two_seconds(app: Any, db: Any) -> None:
    config = {f"key-{n:06d}": "v" * 90 for n in range(10_000)}  # ~1.1 MB as JSON
    assert len(json.dumps(config)) > 1_000_000
    world = seed(app, db, schema=None)
    cur = db.cursor()  # past the API's body limit with its wrapping: written directly
    cur.execute(
        "UPDATE configurations SET config = %s, version = version + 1",
        (json.dumps(config),),
    )
    admin = signed_in(app, db, "ada", "admin")
    configuration_id = world["configuration"]["id"]
    for suffix in ("", "/edit", "/environments"):
        started = time.monotonic()
        response = admin.get(f"/configurations/{configuration_id}{suffix}")
        elapsed = time.monotonic() - started
        assert response.status_code == 200
        assert elapsed < 2.0, (suffix, elapsed)
    token = hidden(response.get_data(as_text=True), "csrf_token")
    assert token
