"""POST /api/v1/watch: one request waiting on many configurations, by id and by names."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import pytest

from app import create_app
from app.db import get_pool
from app.web.tokens import create_token
from app.worker import current_worker
from tests.helpers import assert_problem, create_application, create_configuration
from tests.test_watch import PROMPT, Timed, change, wait_until, waiting

WATCH = "/api/v1/watch"
API = "/api/v1/configurations"


@pytest.fixture
def billing(client: Any) -> dict[str, Any]:
    return create_application(client, "billing")


@pytest.fixture
def database(client: Any, billing: dict[str, Any]) -> dict[str, Any]:
    """Configuration "database" of application "billing", at version 1."""
    return create_configuration(client, billing["id"], "database", config={"n": 0})


def watch(client: Any, entries: list[dict[str, Any]], prefer: str | None = None) -> Any:
    headers = {"Prefer": prefer} if prefer else {}
    return client.post(WATCH, json={"watch": entries}, headers=headers)


def timed_watch(app: Any, entries: list[dict[str, Any]], prefer: str) -> Timed:
    started = time.monotonic()
    response = watch(app.test_client(), entries, prefer)
    return Timed(response, started, time.monotonic())


@pytest.fixture
def spawn(app: Any) -> Iterator[Callable[..., Future[Timed]]]:
    """Start watches in other threads: spawn(entries, prefer) returns a future of Timed."""
    pool = ThreadPoolExecutor(max_workers=4)
    yield lambda entries, prefer="wait=10": pool.submit(timed_watch, app, entries, prefer)
    pool.shutdown(wait=False, cancel_futures=True)


def changes(response: Any) -> list[dict[str, Any]]:
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.headers["Cache-Control"] == "no-store"
    return response.get_json()["changes"]


def by_name(name: str, etag: str | None, application: str = "billing") -> dict[str, Any]:
    return {"application": application, "name": name, "etag": etag}


def test_answers_at_once_with_every_entry_that_differs(client, billing, database):
    changed = create_configuration(client, billing["id"], "changed")
    changed = change(client, changed["id"], n=1)
    deleted = create_configuration(client, billing["id"], "deleted")
    assert client.delete(f"{API}/{deleted['id']}").status_code == 204
    created = create_configuration(client, billing["id"], "created")
    entries = [
        {"id": database["id"], "etag": '"1"'},
        {"id": changed["id"], "etag": '"1"'},
        {"id": deleted["id"].lower(), "etag": '"1"'},
        by_name("created", None),
        by_name("missing", None),
        by_name("database", 'W/"1"'),
        by_name("database", '"7"'),
        by_name("database", None, application="nobody"),
    ]
    started = time.monotonic()
    response = watch(client, entries)
    assert time.monotonic() - started < 0.5
    assert "Preference-Applied" not in response.headers
    assert changes(response) == [
        {"index": 1, "etag": '"2"', "configuration": changed},
        {"index": 2, "etag": None, "configuration": None},
        {"index": 3, "etag": '"1"', "configuration": created},
        {"index": 6, "etag": '"1"', "configuration": database},
    ]


def test_a_difference_answers_at_once_even_with_a_wait(client, database):
    started = time.monotonic()
    response = watch(client, [{"id": database["id"], "etag": '"0"'}], "wait=10")
    assert time.monotonic() - started < 0.5
    assert changes(response) == [{"index": 0, "etag": '"1"', "configuration": database}]


def test_names_no_configuration_can_have_are_absent(client, billing):
    entries = [by_name("not a name", None), by_name("x", '"1"', application="bad\nname")]
    assert changes(watch(client, entries)) == [{"index": 1, "etag": None, "configuration": None}]


def test_nothing_differs_by_the_end_of_the_wait(app, client, database):
    started = time.monotonic()
    response = watch(client, [{"id": database["id"], "etag": '"1"'}], "wait=1")
    assert 0.9 < time.monotonic() - started < 3
    assert changes(response) == []
    assert response.headers["Preference-Applied"] == "wait=1"
    assert waiting(app) == 0


def test_a_change_wakes_the_watch_at_once(app, client, billing, database, spawn):
    other = create_configuration(client, billing["id"], "other")
    watcher = spawn([by_name("other", '"1"'), {"id": database["id"], "etag": '"1"'}])
    wait_until(lambda: waiting(app) == 1, what="the watch to wait")

    changed_at = time.monotonic()
    body = change(client, database["id"], n=1)
    timed = watcher.result(timeout=10)
    assert timed.finished - changed_at < PROMPT
    assert changes(timed.response) == [{"index": 1, "etag": '"2"', "configuration": body}]
    assert timed.response.headers["Preference-Applied"] == "wait=10"
    assert other["version"] == 1 and waiting(app) == 0


def test_a_change_to_another_configuration_does_not_answer(app, client, billing, database, spawn):
    other = create_configuration(client, billing["id"], "other")
    watcher = spawn([{"id": database["id"], "etag": '"1"'}], "wait=3")
    wait_until(lambda: waiting(app) == 1, what="the watch to wait")
    change(client, other["id"], n=1)
    time.sleep(0.3)
    assert not watcher.done()
    assert changes(watcher.result(timeout=10).response) == []


@pytest.mark.parametrize("how", ["created", "renamed"])
def test_an_absent_name_wakes_when_it_appears(app, client, billing, database, spawn, how):
    watcher = spawn([by_name("flags", None)])
    wait_until(lambda: waiting(app) == 1, what="the watch to wait")

    changed_at = time.monotonic()
    if how == "created":
        body = create_configuration(client, billing["id"], "flags", config={"on": True})
    else:
        response = client.patch(f"{API}/{database['id']}", json={"name": "flags"})
        body = response.get_json()
    timed = watcher.result(timeout=10)
    assert timed.finished - changed_at < PROMPT
    assert changes(timed.response) == [
        {"index": 0, "etag": f'"{body["version"]}"', "configuration": body}
    ]


def test_a_renamed_application_moves_a_watched_name(app, client, billing, database, spawn):
    watcher = spawn([by_name("database", '"1"')])
    wait_until(lambda: waiting(app) == 1, what="the watch to wait")
    changed_at = time.monotonic()
    assert (
        client.patch(f"/api/v1/applications/{billing['id']}", json={"name": "b2"}).status_code
        == 200
    )
    timed = watcher.result(timeout=10)
    assert timed.finished - changed_at < PROMPT
    assert changes(timed.response) == [{"index": 0, "etag": None, "configuration": None}]


def test_waiting_holds_no_connection_and_blocks_nobody(app, client, billing, database, spawn):
    current_worker(app).shutdown()  # the pool is rebuilt with one connection
    app.config.update(DB_POOL_MIN=1, DB_POOL_MAX=1, DB_POOL_TIMEOUT=2)
    watcher = spawn([{"id": database["id"], "etag": '"1"'}, by_name("flags", None)])
    wait_until(lambda: waiting(app) == 1, what="the watch to wait")
    pool = get_pool(app)
    assert pool.maxconn == 1
    wait_until(lambda: pool.in_use == 0, what="the watch to return its connection")

    assert client.get(f"{API}/{database['id']}").status_code == 200
    other = create_configuration(client, billing["id"], "other")
    change(client, other["id"], n=1)  # wakes the absent name's check, which answers nothing
    assert not watcher.done()
    body = change(client, database["id"], n=1)
    assert changes(watcher.result(timeout=10).response) == [
        {"index": 0, "etag": '"2"', "configuration": body}
    ]
    assert pool.in_use == 0


ENTRY = {"id": "01ARZ3NDEKTSV4RRFFQ69G5FAV", "etag": '"1"'}


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"watch": []}, "watch"),
        ({"watch": [ENTRY] * 1001}, "watch"),
        ({}, "watch"),
        ({"watch": {}}, "watch"),
        ({"watch": [ENTRY], "wait": 3}, "wait"),
        ({"watch": [ENTRY, {**ENTRY, "application": "a", "name": "b"}]}, "watch.1"),
        ({"watch": [{"application": "a", "etag": None}]}, "watch.0"),
        ({"watch": [{"etag": None}]}, "watch.0"),
        ({"watch": [{**ENTRY, "id": "nope"}]}, "watch.0.id"),
        ({"watch": [{"id": ENTRY["id"]}]}, "watch.0.etag"),
        ({"watch": [{**ENTRY, "etag": "1"}]}, "watch.0.etag"),
        ({"watch": [{**ENTRY, "etag": '"1'}]}, "watch.0.etag"),
        ({"watch": [{**ENTRY, "etag": 1}]}, "watch.0.etag"),
        ({"watch": [{**ENTRY, "etag": '"1", "2"'}]}, "watch.0.etag"),
        ({"watch": [{**ENTRY, "environment": 5}]}, "watch.0.environment"),
        ({"watch": [{**ENTRY, "version": 1}]}, "watch.0.version"),
        ({"watch": [1]}, "watch.0"),
    ],
)
def test_a_bad_body_is_refused_naming_the_entry(client, body, field):
    problem = assert_problem(client.post(WATCH, json=body), 422)
    assert field in problem["errors"], problem


def test_the_1000th_entry_is_accepted(client):
    assert changes(watch(client, [ENTRY] * 1000)) == [
        {"index": i, "etag": None, "configuration": None} for i in range(1000)
    ]


def test_a_reader_may_watch_and_no_token_may_not(app_settings, db, client, database):
    secret = create_token(db, "watcher", "reader", "test")
    application = create_app({**app_settings, "AUTH_ENABLED": True})
    try:
        entries = [{"id": database["id"], "etag": '"1"'}]
        guarded = application.test_client()
        assert_problem(guarded.post(WATCH, json={"watch": entries}), 401)
        response = guarded.post(
            WATCH, json={"watch": entries}, headers={"Authorization": f"Bearer {secret}"}
        )
        assert changes(response) == []
    finally:
        current_worker(application).shutdown()
