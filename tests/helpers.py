"""Helpers the tests share: the test server, API shortcuts and checks (fixtures: conftest)."""

from __future__ import annotations

import os
import re
import time
from collections.abc import Callable
from typing import Any

from prometheus_client.parser import text_string_to_metric_families

from app.settings import PROJECT_ROOT
from app.worker import current_worker

MIGRATIONS_DIR = PROJECT_ROOT / "app" / "migrations"
# RFC 3339 in UTC with microseconds and Z, as every timestamp is answered
TIMESTAMP_RE = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z")
ULID_RE = re.compile(r"[0-7][0-9A-HJKMNP-TV-Z]{25}")


def server_dsn() -> str:
    """Return a superuser DSN: TEST_DATABASE_URL, else the embedded dev server (stopped at
    exit if this session started it)."""
    url = os.environ.get("TEST_DATABASE_URL")
    if url:
        return url
    from devtools.devdb import session_dsn as embedded_dsn

    return embedded_dsn(PROJECT_ROOT / ".devdb" / "pgdata")


def scrape(client: Any) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Return every sample of /metrics as {(name, sorted labels): value}."""
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response.mimetype == "text/plain"
    return parse_metrics(response.get_data(as_text=True))


def parse_metrics(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Parse the Prometheus text format into {(name, sorted labels): value}."""
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


CACHE_DEADLINE = 1.0  # seconds another worker may keep a stale cached answer after a change


def listening(*apps: Any) -> None:
    """Start each app's change listener and wait until it listens (its cache is used then)."""
    for application in apps:
        assert current_worker(application).listener.connected.wait(5)


def within_deadline(check: Callable[[], bool]) -> float:
    """Poll until check() holds; fail unless it did within CACHE_DEADLINE; return the time."""
    started = time.monotonic()
    while not check():
        assert time.monotonic() - started < CACHE_DEADLINE, "the change did not arrive in time"
        time.sleep(0.005)
    return time.monotonic() - started


def assert_problem(response: Any, status: int) -> dict[str, Any]:
    """Check an RFC 9457 answer with this status and return its body."""
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == "application/problem+json"
    body = response.get_json()
    assert body["status"] == status
    assert body["type"] == "about:blank"
    assert body["title"]
    return body


def create_application(client: Any, name: str = "billing", **extra: Any) -> dict[str, Any]:
    """Create an application through the API and return its representation."""
    response = client.post("/api/v1/applications", json={"name": name, **extra})
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def create_configuration(
    client: Any, application_id: str, name: str = "database", config: Any = None, **extra: Any
) -> dict[str, Any]:
    """Create a configuration through the API and return its representation."""
    body = {"application_id": application_id, "name": name, "config": config or {}, **extra}
    response = client.post("/api/v1/configurations", json=body)
    assert response.status_code == 201, response.get_json()
    return response.get_json()
