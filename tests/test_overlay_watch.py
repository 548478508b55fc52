"""Watching configurations resolved for an environment: GET long polls and POST /watch wake
on a change of the base or of that environment's overlay, and only then."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import pytest

from tests.helpers import (
    create_application,
    create_configuration,
    listening,
    within_deadline,
)
from tests.test_environments import create_environment
from tests.test_watch import PROMPT, timed_get, wait_until, waiting

API = "/api/v1/configurations"


@pytest.fixture
def configuration(client: Any) -> dict[str, Any]:
    application = create_application(client, "billing")
    create_environment(client, "staging")
    create_environment(client, "production")
    return create_configuration(client, application["id"], "database", config={"n": 0})


@pytest.fixture
def spawn(app: Any) -> Iterator[Callable[..., Future[Any]]]:
    """Start GETs in other threads: spawn(path, headers) returns a future of Timed."""
    pool = ThreadPoolExecutor(max_workers=4)
    yield lambda path, headers: pool.submit(timed_get, app, path, headers)
    pool.shutdown(wait=False, cancel_futures=True)


def overlay(client: Any, configuration: dict[str, Any], environment: str, **patch: Any) -> None:
    url = f"{API}/{configuration['id']}/environments/{environment}"
    assert client.put(url, json={"patch": patch}).status_code in (200, 201)


def test_an_overlay_change_wakes_its_environment_only(app, client, configuration, spawn):
    resolved = f"{API}/{configuration['id']}?environment="
    headers = {"If-None-Match": '"1.0"', "Prefer": "wait=3"}
    staging = spawn(resolved + "staging", headers)
    production = spawn(resolved + "production", headers)
    plain = spawn(f"{API}/{configuration['id']}", {"If-None-Match": '"1"', "Prefer": "wait=3"})
    wait_until(lambda: waiting(app) == 3, what="three watchers")
    overlay(client, configuration, "staging", n=1)
    woken = staging.result(timeout=5)
    assert woken.response.status_code == 200 and woken.seconds < PROMPT + 1
    assert woken.response.headers["ETag"] == '"1.1"'
    assert woken.response.get_json()["config"] == {"n": 1}
    assert production.result(timeout=5).response.status_code == 304  # after its whole wait
    assert plain.result(timeout=5).response.status_code == 304


def test_a_base_change_wakes_every_environment(app, client, configuration, spawn):
    by_name = "/api/v1/applications/by-name/billing/configurations/database?environment="
    headers = {"If-None-Match": '"1.0"', "Prefer": "wait=5"}
    staging, production = (
        spawn(by_name + "staging", headers),
        spawn(by_name + "production", headers),
    )
    wait_until(lambda: waiting(app) == 2, what="two watchers")
    client.patch(f"{API}/{configuration['id']}", json={"config": {"n": 2}})
    for future in (staging, production):
        timed = future.result(timeout=5)
        assert timed.response.status_code == 200 and timed.seconds < PROMPT + 1
        assert timed.response.headers["ETag"] == '"2.0"'


def test_post_watch_with_an_environment(app, client, configuration) -> None:
    entry = {"id": configuration["id"], "environment": "staging", "etag": '"1.0"'}
    by_name = {"application": "billing", "name": "database", "environment": "staging"}
    answer = client.post("/api/v1/watch", json={"watch": [entry, {**by_name, "etag": '"1.0"'}]})
    assert answer.get_json() == {"changes": []}
    overlay(client, configuration, "staging", n=3)
    answer = client.post("/api/v1/watch", json={"watch": [entry]}, headers={"Prefer": "wait=2"})
    [change] = answer.get_json()["changes"]
    assert change["etag"] == '"1.1"' and change["configuration"]["config"] == {"n": 3}
    assert change["configuration"]["environment"] == "staging"
    unknown = {**entry, "environment": "nowhere", "etag": None}
    assert client.post("/api/v1/watch", json={"watch": [unknown]}).get_json() == {"changes": []}
    absent = {**entry, "environment": "bad name", "etag": '"1.0"'}
    [gone] = client.post("/api/v1/watch", json={"watch": [absent]}).get_json()["changes"]
    assert gone == {"index": 0, "etag": None, "configuration": None}


def test_post_watch_is_woken_by_an_overlay_change(app, client, configuration) -> None:
    entry = {"id": configuration["id"], "environment": "production", "etag": '"1.0"'}
    with ThreadPoolExecutor(1) as pool:
        future = pool.submit(
            app.test_client().post,
            "/api/v1/watch",
            json={"watch": [entry]},
            headers={"Prefer": "wait=5"},
        )
        wait_until(lambda: waiting(app) == 1, what="the watcher")
        overlay(client, configuration, "production", n=4)
        [change] = future.result(timeout=5).get_json()["changes"]
    assert change["etag"] == '"1.1"'


def test_another_worker_forgets_a_cached_resolved_answer(client, make_app, configuration):
    other = make_app()
    listening(other)
    reader = other.test_client()
    url = f"{API}/{configuration['id']}?environment=staging"
    assert reader.get(url).headers["ETag"] == '"1.0"'  # now in the other worker's cache
    overlay(client, configuration, "staging", n=5)
    within_deadline(lambda: reader.get(url).headers["ETag"] == '"1.1"')
    client.delete("/api/v1/environments/staging?cascade=true")
    within_deadline(lambda: reader.get(url).status_code == 404)
