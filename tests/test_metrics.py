"""GET /metrics: request counts by route template, latency, pool and watcher gauges, DB errors."""

from __future__ import annotations

import http.client
import os
import signal
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from app import create_app
from app.db import ConnectionPool, connection_kwargs
from app.live.cache import ENTRY_OVERHEAD, ReadCache
from app.worker import current_worker
from tests.helpers import create_application, create_configuration, parse_metrics, scrape
from tests.servers import running_gunicorn

BOTH_PATHS = True  # run with FAST_PATH on and off: every answer must be alike
UNKNOWN_ID = "01ARZ3NDEKTSV4RRFFQ69G5FAV"
ONE_APPLICATION = "/api/v1/applications/{application_id}"


def requests(samples: dict, method: str, route: str, status: int) -> float:
    """Return http_requests_total for one label set (0 when absent)."""
    labels = (("method", method), ("route", route), ("status", str(status)))
    return samples.get(("http_requests_total", labels), 0.0)


def test_counters_move_by_exactly_the_requests_made(client: Any) -> None:
    application = create_application(client)
    before = scrape(client)
    for _ in range(3):
        assert client.get("/api/v1/applications").status_code == 200
    assert client.get(f"/api/v1/applications/{application['id']}").status_code == 200
    assert client.get(f"/api/v1/applications/{UNKNOWN_ID}").status_code == 404
    assert client.get("/api/v1/no-such-route").status_code == 404
    assert client.get("/nowhere/at/all").status_code == 404
    assert client.delete("/api/v1/applications").status_code == 405
    after = scrape(client)

    def moved(method: str, route: str, status: int) -> float:
        return requests(after, method, route, status) - requests(before, method, route, status)

    assert moved("GET", "/api/v1/applications", 200) == 3
    assert moved("GET", ONE_APPLICATION, 200) == 1
    assert moved("GET", ONE_APPLICATION, 404) == 1  # the rule matched; the id did not
    assert moved("GET", "<unmatched>", 404) == 2  # no route: one bounded label value
    assert moved("DELETE", "<unmatched>", 405) == 1
    assert moved("GET", "/metrics", 200) == 1  # the first scrape
    latency = ("http_request_duration_seconds_count",)
    labels = (("method", "GET"), ("route", "/api/v1/applications"))
    assert after[(*latency, labels)] - before.get((*latency, labels), 0) == 3


def test_an_unusual_method_is_one_label_value(client: Any) -> None:
    assert client.open("/healthz", method="BREW").status_code == 405
    assert requests(scrape(client), "<other>", "<unmatched>", 405) == 1


def test_database_errors_are_counted(app_settings: dict[str, Any]) -> None:
    settings = {**app_settings, "DATABASE_URL": "postgresql://nobody@127.0.0.1:1/none"}
    client = create_app(settings).test_client()
    for _ in range(2):
        response = client.get("/api/v1/applications")
        assert response.status_code == 503
    samples = scrape(client)
    assert samples[("db_errors_total", ())] == 2
    assert requests(samples, "GET", "/api/v1/applications", 503) == 2


class _Counted:
    def __init__(self, **counts: int) -> None:
        self.pid = os.getpid()
        self.__dict__.update(counts)


def test_gauges_read_this_process_pool_and_listener(app: Any, client: Any) -> None:
    worker = current_worker(app)
    worker._pool = _Counted(in_use=3, waiting=2)
    worker.cache = cache = ReadCache(1 << 20)
    cache.put(("id", "c1"), "body", ("c1",), 300, cache.generation)
    worker._listener = _Counted(waiting=4)
    samples = scrape(client)
    assert samples[("db_pool_connections_in_use", ())] == 3
    assert samples[("db_pool_waiting", ())] == 2
    assert samples[("watchers_waiting", ())] == 4
    assert samples[("read_cache_entries", ())] == 1
    assert samples[("read_cache_bytes", ())] == cache.size == 300 + ENTRY_OVERHEAD
    worker._pool = _Counted(in_use=5, waiting=0)
    worker._forked()  # what a forked child does: what it inherited is not its own
    assert scrape(client)[("db_pool_connections_in_use", ())] == 0


def test_a_worker_refreshes_its_gauges_in_the_background(
    app: Any, client: Any, tmp_path: Path
) -> None:
    metrics = app.extensions["metrics"]
    metrics.multiprocess_dir = str(tmp_path)  # as under gunicorn; the files stay empty here
    worker = current_worker(app)
    worker._pool = _Counted(in_use=2, waiting=1)
    try:
        assert client.get("/healthz").status_code == 200  # the first request starts it
        assert worker._sampler is not None
        sampler = next(t for t in threading.enumerate() if t.name == "metrics-sampler")
        deadline = time.monotonic() + 5
        while metrics.registry.get_sample_value("db_pool_waiting") != 1:
            assert time.monotonic() < deadline, "the sampler never ran"
            time.sleep(0.01)
        assert metrics.registry.get_sample_value("db_pool_connections_in_use") == 2
        assert client.get("/metrics").status_code == 200  # summed from the (empty) folder
    finally:
        metrics.stop_sampler(worker._sampler)
        worker._forked()
    sampler.join(timeout=5)
    assert not sampler.is_alive()


def test_pool_counts_threads_waiting_for_a_connection(app_settings: dict[str, Any]) -> None:
    pool = ConnectionPool(0, 1, 5, **connection_kwargs(create_app(app_settings).config))
    held = pool.getconn()
    waiter = threading.Thread(target=lambda: pool.putconn(pool.getconn()))
    waiter.start()
    try:
        deadline = time.monotonic() + 5  # the waiter blocks on the slot within a few ms
        while pool.waiting != 1 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert (pool.waiting, pool.in_use) == (1, 1)
    finally:
        pool.putconn(held)
        waiter.join(timeout=5)
        pool.closeall()
    assert (pool.waiting, pool.in_use) == (0, 0)


def get(port: int, path: str) -> int:
    """Make one request over a fresh connection; return its status."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request("GET", path, headers={"Connection": "close"})
        response = conn.getresponse()
        response.read()
        return response.status
    finally:
        conn.close()


def scrape_server(port: int) -> dict:
    """Scrape a running server's /metrics over a fresh connection."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request("GET", "/metrics", headers={"Connection": "close"})
        return parse_metrics(conn.getresponse().read().decode())
    finally:
        conn.close()


@pytest.mark.slow
def test_gunicorn_workers_add_up(database_url: str, tmp_path: Path) -> None:
    metrics_dir = tmp_path / "metrics"
    metrics_dir.mkdir()
    (metrics_dir / "counter_999999.db").write_bytes(b"left by an earlier run")
    env = {"PROMETHEUS_MULTIPROC_DIR": str(metrics_dir), "AUTH_ENABLED": "false"}
    count = 60
    with running_gunicorn(database_url, tmp_path / "gunicorn.log", workers=3, env=env) as server:
        assert not (metrics_dir / "counter_999999.db").exists()  # on_starting cleaned it
        statuses = [get(server.port, "/api/v1/applications") for _ in range(count)]
        assert statuses == [200] * count
        # Each worker hands its counts over within a second (its sampler thread).
        deadline = time.monotonic() + 3
        samples = scrape_server(server.port)
        while requests(samples, "GET", "/api/v1/applications", 200) < count:
            assert time.monotonic() < deadline, "a worker's counts never reached /metrics"
            time.sleep(0.1)
            samples = scrape_server(server.port)
        served_by = {p.name for p in metrics_dir.glob("counter_*.db")}
        assert requests(samples, "GET", "/api/v1/applications", 200) == count
        assert requests(samples, "GET", "/healthz", 200) >= 1  # the readiness probe's
        assert samples[("db_pool_connections_in_use", ())] == 0
        assert len(served_by) >= 2, f"one worker served everything: {served_by}"

        gauges = {pid: metrics_dir / f"gauge_livesum_{pid}.db" for pid in server.worker_pids()}
        victim = next(pid for pid, path in gauges.items() if path.exists())
        os.kill(victim, signal.SIGTERM)  # a worker that exits: its live gauges go, counts stay
        deadline = time.monotonic() + 10
        while gauges[victim].exists() and time.monotonic() < deadline:
            time.sleep(0.02)
        assert not gauges[victim].exists()
        after = scrape_server(server.port)
        assert requests(after, "GET", "/api/v1/applications", 200) == count


def test_route_labels_are_the_documented_templates(client: Any) -> None:
    application = create_application(client)
    configuration = create_configuration(client, application["id"])
    path = f"/api/v1/configurations/{configuration['id']}/versions/1"
    assert client.get(path).status_code == 200
    samples = scrape(client)
    template = "/api/v1/configurations/{configuration_id}/versions/{version}"
    assert requests(samples, "GET", template, 200) == 1
    documented = set(client.get("/api/v1/openapi.json").get_json()["paths"])
    routes = {dict(labels)["route"] for _, labels in samples if "route" in dict(labels)}
    assert template in documented
    assert not {r for r in routes if r.startswith("/api/")} - documented, routes
