"""Editing in the console: the schema's form, review, save with If-Match, and conflicts."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.console import CONFIG, Browser, element, hidden, items, seed, signed_in, textarea


@pytest.fixture
def app_settings(app_settings: dict[str, Any]) -> dict[str, Any]:
    return {**app_settings, "AUTH_ENABLED": True}


@pytest.fixture
def world(app: Any, db: Any) -> dict[str, Any]:
    return seed(app, db)


@pytest.fixture
def writer(app: Any, db: Any) -> Browser:
    return signed_in(app, db, "alice", "writer")


def stored(db: Any) -> dict[str, Any]:
    cur = db.cursor()
    cur.execute("SELECT version, config FROM configurations")
    return cur.fetchone()


def raw_of(document: Any) -> str:
    return json.dumps(document, indent=2)


def test_the_edit_form_has_an_input_per_leaf_and_the_raw_json(writer: Browser, world: dict) -> None:
    page = writer.get(f"/configurations/{world['configuration']['id']}/edit")
    text = page.get_data(as_text=True)
    assert page.status_code == 200
    assert '<form id="edit" method="post"' in text and 'enctype="multipart/form-data"' in text
    assert hidden(text, "base_version") == "1"
    assert 'id="field-db-port" name="field:/db/port"' in text and 'type="number"' in text
    assert 'id="field-db-host" name="field:/db/host" value="db1"' in text
    assert 'type="checkbox" id="field-debug"' in text
    assert '<select id="field-level" name="field:/level"' in text
    assert '<label for="field-db-port">' in text and '<label for="raw">Raw JSON</label>' in text
    assert json.loads(textarea(text)) == CONFIG
    assert textarea(text) == raw_of(CONFIG)  # indented by two
    assert ">Review</button>" in text


def test_review_shows_the_exact_change_and_save_writes_the_next_version(
    writer: Browser, world: dict, db: Any
) -> None:
    configuration_id = world["configuration"]["id"]
    changed = {**CONFIG, "db": {"host": "db1", "port": 5433}, "extra": [1]}
    review = writer.review(configuration_id, raw_of(changed), 1)
    text = review.get_data(as_text=True)
    assert review.status_code == 200
    assert items(text, "changes") == ["replace /db/port: 5432 → 5433", "add /extra: [1]"]
    assert 'id="save"' in text and ">Back to editing</button>" in text
    assert stored(db)["version"] == 1  # a review writes nothing
    document = hidden(text, "document")
    assert json.loads(document) == changed
    saved = writer.save(configuration_id, document, 1)
    assert saved.status_code == 303
    assert saved.headers["Location"] == f"/console/configurations/{configuration_id}?saved=2"
    assert stored(db) == {"version": 2, "config": changed}
    cur = db.cursor()
    cur.execute("SELECT actor, action, version FROM audit_log WHERE resource_id = %s "
                "ORDER BY id DESC LIMIT 1", (configuration_id,))  # fmt: skip
    assert cur.fetchone() == {"actor": "alice", "action": "update", "version": 2}
    page = writer.client.get(saved.headers["Location"]).get_data(as_text=True)
    assert '<p id="message" role="status">Saved version 2.</p>' in page
    assert '<span id="version">2</span>' in page


def test_fields_apply_when_the_raw_json_is_unchanged(writer: Browser, world: dict, db: Any) -> None:
    configuration_id = world["configuration"]["id"]
    fields = {
        "field:/db/port": "6000",
        "field:/debug": ["false", "true"],
        "field:/level": '"warning"',
    }
    review = writer.review(configuration_id, raw_of(CONFIG), 1, **fields)
    text = review.get_data(as_text=True)
    assert review.status_code == 200, text
    assert items(text, "changes") == [
        "replace /db/port: 5432 → 6000",
        "replace /debug: false → true",
        'replace /level: "info" → "warning"',
    ]


def test_the_raw_json_wins_over_the_fields_when_changed(writer: Browser, world: dict) -> None:
    changed = {**CONFIG, "debug": True}
    review = writer.review(
        world["configuration"]["id"], raw_of(changed), 1, **{"field:/db/port": "1"}
    )
    assert items(review.get_data(as_text=True), "changes") == ["replace /debug: false → true"]


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ('{\n  "db": {\n    "port": 5432,,\n', "Not valid JSON: line 3 column 18"),
        ("[1, 2]", "A configuration is a JSON object"),
        ('{"n": NaN}', "Not valid JSON"),
        ('{"n": 1e400}', "out of range"),
        ("", "Not valid JSON: line 1 column 1"),
    ],
)
def test_invalid_json_is_marked_and_nothing_is_written(
    writer: Browser, world: dict, db: Any, raw: str, expected: str
) -> None:
    review = writer.review(world["configuration"]["id"], raw, 1)
    text = review.get_data(as_text=True)
    assert review.status_code == 422
    assert expected in element(text, "div", "error-raw")
    assert 'aria-describedby="error-raw"' in text and 'aria-invalid="true"' in text
    assert textarea(text) == raw  # what was typed comes back
    assert stored(db)["version"] == 1


def test_a_schema_violation_is_marked_at_its_field(writer: Browser, world: dict, db: Any) -> None:
    bad = {**CONFIG, "db": {"host": "db1", "port": 70000}}
    review = writer.review(world["configuration"]["id"], raw_of(bad), 1)
    text = review.get_data(as_text=True)
    assert review.status_code == 422
    assert "70000 is greater than the maximum of 65535" in element(text, "span", "error-db-port")
    assert 'aria-describedby="error-db-port"' in text
    assert stored(db)["version"] == 1


def test_a_violation_of_no_field_is_listed_under_the_raw_json(
    writer: Browser, world: dict, db: Any
) -> None:
    bad = {**CONFIG, "level": 3, "db": "nowhere"}
    text = writer.review(world["configuration"]["id"], raw_of(bad), 1).get_data(as_text=True)
    assert "/db: " in element(text, "div", "error-raw")
    assert "is not one of" in element(text, "span", "error-level")


def test_a_field_of_the_wrong_type_is_marked(writer: Browser, world: dict) -> None:
    review = writer.review(
        world["configuration"]["id"], raw_of(CONFIG), 1, **{"field:/db/port": "5.5"}
    )
    assert review.status_code == 422
    assert "whole number" in element(review.get_data(as_text=True), "span", "error-db-port")


def test_no_change_means_nothing_to_save(writer: Browser, world: dict) -> None:
    text = writer.review(world["configuration"]["id"], raw_of(CONFIG), 1).get_data(as_text=True)
    assert "Nothing to save" in text and 'id="save"' not in text


def test_back_to_editing_keeps_the_proposed_text(writer: Browser, world: dict) -> None:
    configuration_id = world["configuration"]["id"]
    changed = {**CONFIG, "debug": True}
    review = writer.review(configuration_id, raw_of(changed), 1).get_data(as_text=True)
    data = {"csrf_token": hidden(review, "csrf_token"), "base_version": "1"}
    again = writer.post(
        f"/configurations/{configuration_id}/edit-again",
        {**data, "document": hidden(review, "document")},
    )
    assert again.status_code == 200
    assert json.loads(textarea(again.get_data(as_text=True))) == changed


def someone_saves(world: dict, config: dict) -> None:
    response = world["api"].put(
        f"/api/v1/configurations/{world['configuration']['id']}",
        json={"name": "database", "config": config, "schema": world["configuration"]["schema"]},
        headers={"If-Match": '"1"'},
    )
    assert response.status_code == 200, response.get_json()


def test_a_save_after_someone_else_keeps_the_text_and_applies_it_onto_theirs(
    writer: Browser, world: dict, db: Any
) -> None:
    configuration_id = world["configuration"]["id"]
    mine = {**CONFIG, "debug": True}
    document = hidden(
        writer.review(configuration_id, raw_of(mine), 1).get_data(as_text=True), "document"
    )
    theirs = {**CONFIG, "level": "warning"}
    someone_saves(world, theirs)
    conflict = writer.save(configuration_id, document, 1)
    text = conflict.get_data(as_text=True)
    assert conflict.status_code == 409
    assert (
        'id="conflict"' in text and "<h1" in text and "Someone saved version 2 first</h1>" in text
    )
    assert items(text, "theirs") == ['replace /level: "info" → "warning"']
    assert items(text, "mine") == ["replace /debug: false → true"]
    assert json.loads(textarea(text)) == mine  # nothing typed is lost
    assert 'id="overlap"' not in text
    assert stored(db) == {"version": 2, "config": theirs}
    apply_form = element(text, "form", "apply")
    assert "Apply my changes onto version 2" in apply_form
    rebased = hidden(apply_form, "raw")
    assert hidden(apply_form, "base_version") == "2"
    review = writer.review(configuration_id, rebased, 2).get_data(as_text=True)
    assert items(review, "changes") == ["replace /debug: false → true"]
    saved = writer.save(configuration_id, hidden(review, "document"), 2)
    assert saved.status_code == 303
    assert stored(db) == {"version": 3, "config": {**theirs, "debug": True}}


def test_overlapping_changes_are_listed_for_the_user_to_merge(
    writer: Browser, world: dict, db: Any
) -> None:
    configuration_id = world["configuration"]["id"]
    mine = {**CONFIG, "db": {"host": "mine", "port": 5432}}
    someone_saves(world, {**CONFIG, "db": {"host": "theirs", "port": 5432}})
    conflict = writer.save(configuration_id, json.dumps(mine), 1)
    text = conflict.get_data(as_text=True)
    assert conflict.status_code == 409
    assert items(text, "overlap") == ["/db/host"]
    assert 'id="apply"' not in text
    assert json.loads(textarea(text)) == mine
    again = element(text, "form", "again")
    assert hidden(again, "base_version") == "2"
    assert stored(db)["version"] == 2


def test_a_stale_review_says_a_newer_version_exists(writer: Browser, world: dict) -> None:
    someone_saves(world, {**CONFIG, "level": "warning"})
    text = writer.review(
        world["configuration"]["id"], raw_of({**CONFIG, "debug": True}), 1
    ).get_data(as_text=True)
    assert "Version 2 was saved after version 1" in text


def test_watch_answers_a_newer_version_at_once_and_204_after_the_wait(
    app: Any, writer: Browser, world: dict
) -> None:
    from tests.helpers import listening

    listening(app)
    configuration_id = world["configuration"]["id"]
    assert (
        writer.get(f"/configurations/{configuration_id}/watch?version=1&wait=1").status_code == 204
    )
    someone_saves(world, {**CONFIG, "level": "warning"})
    moved = writer.get(f"/configurations/{configuration_id}/watch?version=1")
    assert moved.status_code == 200 and moved.get_json() == {"version": 2}
