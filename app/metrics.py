"""Prometheus metrics at GET /metrics, summed over every gunicorn worker.

With PROMETHEUS_MULTIPROC_DIR set (gunicorn.conf.py sets it) each worker writes its samples
to files there and a scrape, answered by any worker, adds them all up. Without it (tests,
`flask run`) the figures live in this process. Recording is prometheus-client's own
increment: no database round trip and no lock of ours on the request path. The gauges (pool
connections in use, threads waiting for one, long-poll watchers) are copied from the pool
and the listener once a second by a thread in each worker, and again at each scrape.
"""

from __future__ import annotations

import os
import threading
import time
from typing import Any

from flask import (
    Blueprint,
    Flask,
    Response,
    current_app,
    g,
    request,
    request_finished,
    request_started,
)
from prometheus_client import (
    CONTENT_TYPE_PLAIN_0_0_4,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
    generate_latest,
    multiprocess,
)

UNMATCHED = "<unmatched>"  # the route label of 404s and 405s: keeps label values bounded
OTHER_METHOD = "<other>"
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
# Long polls wait up to 60 s, so the buckets reach past the usual 10 s.
BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
SAMPLE_SECONDS = 1.0

blueprint = Blueprint("metrics", __name__)


class Metrics:
    """The service's metrics, kept in a registry of their own (one per app)."""

    def __init__(self, multiprocess_dir: str | None) -> None:
        self.multiprocess_dir = multiprocess_dir
        self.registry = registry = CollectorRegistry()
        self.requests = Counter(
            "http_requests_total", "HTTP requests answered, by route template.",
            ["method", "route", "status"], registry=registry,
        )  # fmt: skip
        self.duration = Histogram(
            "http_request_duration_seconds", "Time to answer a request (long polls included).",
            ["method", "route"], buckets=BUCKETS, registry=registry,
        )  # fmt: skip
        self.db_errors = Counter(
            "db_errors_total", "Requests answered 503 because the database failed or timed out.",
            registry=registry,
        )  # fmt: skip
        self.pool_in_use = self._live_gauge("db_pool_connections_in_use", "Connections lent out.")
        self.pool_waiting = self._live_gauge("db_pool_waiting", "Threads waiting for a connection.")
        self.watchers = self._live_gauge("watchers_waiting", "Requests waiting for a change.")
        self.sampler_pid: int | None = None  # the process whose sampler thread runs
        self.stopped = threading.Event()  # set to end the sampler (tests; workers just exit)

    def _live_gauge(self, name: str, documentation: str) -> Gauge:
        # livesum: add up the live workers' values; a dead worker's file is dropped.
        return Gauge(name, documentation, multiprocess_mode="livesum", registry=self.registry)

    def sample(self, app: Flask) -> None:
        """Copy this process's pool and listener counts into the gauges."""
        here = os.getpid()
        pool = app.extensions.get("db_pool")
        listener = app.extensions.get("change_listener")
        mine = pool is not None and pool.pid == here
        self.pool_in_use.set(pool.in_use if mine else 0)
        self.pool_waiting.set(pool.waiting if mine else 0)
        live = listener is not None and listener.pid == here
        self.watchers.set(listener.waiting if live else 0)

    def exposition(self) -> bytes:
        """Return the text exposition: every worker's files, or this process's registry."""
        if self.multiprocess_dir is None:
            return generate_latest(self.registry)
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry, path=self.multiprocess_dir)
        return generate_latest(registry)


@blueprint.get("/metrics")
def scrape():
    """Answer the metrics in Prometheus text format."""
    metrics: Metrics = current_app.extensions["metrics"]
    metrics.sample(current_app)
    return Response(metrics.exposition(), content_type=CONTENT_TYPE_PLAIN_0_0_4)


def record_db_error() -> None:
    """Count a request answered 503 because of the database."""
    metrics = current_app.extensions.get("metrics")
    if metrics is not None:
        metrics.db_errors.inc()


def _started(app: Flask, **_: Any) -> None:
    g.metrics_started = time.perf_counter()
    metrics: Metrics = app.extensions["metrics"]
    if metrics.multiprocess_dir is not None and metrics.sampler_pid != os.getpid():
        _start_sampler(app, metrics)


def _finished(app: Flask, response: Response, **_: Any) -> None:
    metrics: Metrics = app.extensions["metrics"]
    route = request.url_rule.rule if request.url_rule is not None else UNMATCHED
    method = request.method if request.method in METHODS else OTHER_METHOD
    metrics.requests.labels(method, route, str(response.status_code)).inc()
    started = g.get("metrics_started")
    if started is not None:
        metrics.duration.labels(method, route).observe(time.perf_counter() - started)


_sampler_lock = threading.Lock()


def _start_sampler(app: Flask, metrics: Metrics) -> None:
    """Refresh this worker's gauges every second, so a scrape of any worker sees them."""
    with _sampler_lock:
        if metrics.sampler_pid == os.getpid():
            return
        metrics.sampler_pid = os.getpid()

    def run() -> None:
        while True:
            metrics.sample(app)
            if metrics.stopped.wait(SAMPLE_SECONDS):
                return

    threading.Thread(target=run, name="metrics-sampler", daemon=True).start()


def init_app(app: Flask) -> None:
    """Serve /metrics and count every request the app answers."""
    disable_created_metrics()  # the multiprocess exposition has no *_created: keep both alike
    app.extensions["metrics"] = Metrics(os.environ.get("PROMETHEUS_MULTIPROC_DIR") or None)
    app.register_blueprint(blueprint)
    request_started.connect(_started, app)
    request_finished.connect(_finished, app)
