"""Prometheus metrics at GET /metrics, summed over every gunicorn worker.

With PROMETHEUS_MULTIPROC_DIR set (gunicorn.conf.py sets it) each worker writes its samples
to files there and a scrape, answered by any worker, adds them all up. Without it (tests,
`flask run`) the figures live in this process.

A request only adds to plain counters of its own thread: no database round trip, no lock
(prometheus-client takes a lock per increment). A thread in each worker moves those tallies
into the metrics once a second, as it copies the gauges (pool connections in use, threads
waiting for one, long-poll watchers, read cache size) from the pool and the listener; a
scrape does the same for the worker that answers it, so other workers' figures lag by at
most a second.
"""

from __future__ import annotations

import os
import threading
import time
from bisect import bisect_left
from typing import Any

from flask import Blueprint, Flask, Response, current_app, g, request
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

from app.green import os_thread_id
from app.web.converters import route_template
from app.worker import current_worker

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
        self.cache_lookups = Counter(
            "read_cache_lookups_total",
            "Reads of configurations and tokens: hit (from the worker's cache), miss (loaded"
            " from PostgreSQL and kept), bypass (no-cache, cache off, or not listening).",
            ["result"], registry=registry,
        )  # fmt: skip
        self.cache_entries = self._live_gauge("read_cache_entries", "Values in the read caches.")
        self.cache_bytes = self._live_gauge("read_cache_bytes", "Estimated size of the caches.")
        self.tallies = _Tallies()

    def flush(self) -> None:
        """Add what every thread tallied since the last flush to the metrics."""
        self.tallies.flush(self.duration)

    def _live_gauge(self, name: str, documentation: str) -> Gauge:
        # livesum: add up the live workers' values; a dead worker's file is dropped.
        return Gauge(name, documentation, multiprocess_mode="livesum", registry=self.registry)

    def sample(self, worker: Any) -> None:
        """Flush the tallies; copy the worker's pool, listener and cache counts into the gauges."""
        self.flush()
        pool, listener = worker.running()
        self.pool_in_use.set(pool.in_use if pool is not None else 0)
        self.pool_waiting.set(pool.waiting if pool is not None else 0)
        self.watchers.set(listener.waiting if listener is not None else 0)
        self.cache_entries.set(len(worker.cache))
        self.cache_bytes.set(worker.cache.size)

    def count_cache_lookup(self, result: str) -> None:
        """Count one read cache lookup: "hit", "miss" or "bypass"."""
        self.tallies.count(self.cache_lookups, result)

    def start_sampler(self, worker: Any) -> Sampler:
        """Start a thread that samples the worker every second, until stop_sampler."""
        sampler = Sampler(self, worker)
        sampler.start()
        return sampler

    def stop_sampler(self, sampler: Sampler | None) -> None:
        """End a sampler thread, then hand over what was tallied since its last round."""
        if sampler is not None:
            sampler.stopped.set()
            sampler.join(timeout=SAMPLE_SECONDS * 2)
        self.flush()

    def exposition(self) -> bytes:
        """Return the text exposition: every worker's files, or this process's registry."""
        if self.multiprocess_dir is None:
            return generate_latest(self.registry)
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry, path=self.multiprocess_dir)
        return generate_latest(registry)


class Sampler(threading.Thread):
    """Samples one worker into the metrics every second until `stopped` is set."""

    def __init__(self, metrics: Metrics, worker: Any):
        super().__init__(name="metrics-sampler", daemon=True)
        self.metrics, self.worker = metrics, worker
        self.stopped = threading.Event()

    def run(self) -> None:
        while True:
            self.metrics.sample(self.worker)
            if self.stopped.wait(SAMPLE_SECONDS):
                return


@blueprint.get("/metrics")
def scrape():
    """Answer the metrics in Prometheus text format."""
    metrics: Metrics = current_app.extensions["metrics"]
    metrics.sample(current_worker())  # this worker's figures up to now; the others' lag <= 1 s
    return Response(metrics.exposition(), content_type=CONTENT_TYPE_PLAIN_0_0_4)


def record_db_error() -> None:
    """Count a request answered 503 because of the database."""
    metrics = current_app.extensions.get("metrics")
    if metrics is not None:
        metrics.db_errors.inc()


def request_started(app: Flask) -> float:
    """Note that a request began (the sampler starts with a worker's first); return the time."""
    if app.extensions["metrics"].multiprocess_dir is not None:
        current_worker(app).start_sampler()
    return time.perf_counter()


def count_request(
    metrics: Metrics, method: str, route: str, status: int, started: float | None
) -> None:
    """Count an answered request under its route template, with its duration."""
    method = method if method in METHODS else OTHER_METHOD
    metrics.tallies.count(metrics.requests, method, route, str(status))
    if started is not None:
        metrics.tallies.observe(method, route, time.perf_counter() - started)


def _started() -> None:
    g.metrics_started = request_started(current_app)


def _finished(response: Response) -> Response:
    req = request._get_current_object()  # type: ignore[attr-defined]  # unproxied, for speed
    rule = req.url_rule
    route = route_template(rule) if rule is not None else UNMATCHED
    metrics: Metrics = current_app.extensions["metrics"]
    count_request(metrics, req.method, route, response.status_code, g.get("metrics_started"))
    return response


class _Tallies:
    """Each OS thread's counts and request durations, read (never written) by whoever flushes.

    Each thread writes only its own dicts, so adding takes no lock; a flush copies them
    (dict.copy and list() are atomic under the GIL) and adds the growth since its last copy.
    Books are kept per OS thread, not per threading.local(): under gevent that is one per
    greenlet, so every request would add books for good. Greenlets of one thread never
    preempt each other, and a thread that reuses a dead one's id takes over its books.
    """

    def __init__(self) -> None:
        self._register = threading.Lock()  # taken once per thread, when its books are made
        self._flushing = threading.Lock()
        # Per thread: counts by (counter, labels), request durations by (method, route), and
        # what of each was flushed already.
        self._by_thread: dict[int, tuple[dict, dict, dict, dict]] = {}

    def _mine(self) -> tuple[dict, dict, dict, dict]:
        thread = os_thread_id()
        books = self._by_thread.get(thread)
        if books is None:
            with self._register:
                books = self._by_thread.setdefault(thread, ({}, {}, {}, {}))
        return books

    def count(self, counter: Counter, *labels: str) -> None:
        counts = self._mine()[0]
        key = (counter, labels)
        counts[key] = counts.get(key, 0) + 1

    def observe(self, method: str, route: str, seconds: float) -> None:
        durations = self._mine()[1]
        # (method, route) -> observations per bucket (the last one +Inf), then their sum
        row = durations.get((method, route))
        if row is None:
            row = durations[(method, route)] = [0] * (len(BUCKETS) + 2)
        row[bisect_left(BUCKETS, seconds)] += 1  # le: a value on a bound is in its bucket
        row[-1] += seconds

    def flush(self, duration: Histogram) -> None:
        with self._register:
            every_thread = list(self._by_thread.values())
        with self._flushing:
            for counts, durations, counted, timed in every_thread:
                for key, count in counts.copy().items():
                    if count != counted.get(key, 0):
                        counter, labels = key
                        counter.labels(*labels).inc(count - counted.get(key, 0))
                        counted[key] = count
                for key, row in durations.copy().items():
                    row, before = list(row), timed.get(key) or [0] * len(row)
                    if row != before:
                        _add_observations(duration.labels(*key), row, before)
                        timed[key] = row


def _add_observations(child: Any, row: list[float], before: list[float]) -> None:
    """Add tallied observations to a histogram child in bulk: what observe() does one by
    one (prometheus-client keeps a value per bucket, +Inf included, and their sum)."""
    for bucket, now, then in zip(child._buckets, row[:-1], before[:-1], strict=True):
        if now != then:
            bucket.inc(now - then)
    child._sum.inc(row[-1] - before[-1])


def init_app(app: Flask) -> None:
    """Serve /metrics and count every request the app answers."""
    disable_created_metrics()  # the multiprocess exposition has no *_created: keep both alike
    app.extensions["metrics"] = Metrics(os.environ.get("PROMETHEUS_MULTIPROC_DIR") or None)
    app.register_blueprint(blueprint)
    app.before_request(_started)
    app.after_request(_finished)
