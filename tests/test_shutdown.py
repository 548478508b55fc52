"""Shutdown: long polls end at once (304) when the worker stops; see also tests/test_faults.py."""

from __future__ import annotations

import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from app import create_app
from app.worker import current_worker
from tests.helpers import create_application, create_configuration

WATCH = {"If-None-Match": '"1"', "Prefer": "wait=20"}


@pytest.fixture
def app(app_settings: dict[str, Any]) -> Iterator[Any]:
    """The application; its change listener and pool are stopped after the test."""
    application = create_app(app_settings)
    yield application
    current_worker(application).shutdown()


@pytest.fixture
def path(client: Any) -> str:
    """The URL of a configuration at version 1."""
    application = create_application(client, "billing")
    return f"/api/v1/configurations/{create_configuration(client, application['id'])['id']}"


def timed_get(app: Any, path: str) -> tuple[Any, float]:
    """GET with a watch, with a client of its own; return the response and when it ended."""
    response = app.test_client().get(path, headers=WATCH)
    return response, time.monotonic()


def test_ending_waits_answers_a_waiting_watcher_at_once(app: Any, path: str) -> None:
    listener = current_worker(app).listener
    assert listener.connected.wait(5)
    with ThreadPoolExecutor(1) as pool:
        watcher = pool.submit(timed_get, app, path)
        deadline = time.monotonic() + 5
        while listener.waiting == 0:
            assert time.monotonic() < deadline, "the watcher never waited"
            time.sleep(0.01)  # polling interval
        ended = time.monotonic()
        current_worker(app).end_waits()
        response, answered = watcher.result(timeout=5)

    assert response.status_code == 304
    assert response.headers["ETag"] == '"1"'
    assert answered - ended < 1.0


def test_a_watch_that_starts_while_stopping_answers_at_once(app: Any, path: str) -> None:
    current_worker(app).listener  # noqa: B018 - started, as a first request would
    current_worker(app).end_waits()
    started = time.monotonic()
    response, answered = timed_get(app, path)

    assert response.status_code == 304
    assert answered - started < 1.0
