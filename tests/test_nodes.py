"""Several nodes (gunicorn masters) on one PostgreSQL behind deploy/haproxy.cfg."""

from __future__ import annotations

import http.client
import json
import os
import re
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import ExitStack, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg2
import pytest

from tests.haproxy import HAProxy, require_haproxy, running_haproxy
from tests.servers import Gunicorn, running_gunicorn

pytestmark = pytest.mark.slow
NODES, WORKERS = 2, 2
API = "/api/v1/configurations"
PROMPT = 1.0  # seconds within which a write through one node reaches every node's watchers
WAIT = 20  # seconds each watcher asks to wait
ROUNDS = 10
LISTENER = "config-service-listener"
# gunicorn's own access line, naming what the balancer sent: proof the headers reached it.
ACCESS = "--access-logfile - --access-logformat 'forwarded for=%({x-forwarded-for}i)s proto=%({x-forwarded-proto}i)s %(r)s'"  # noqa: E501


@pytest.fixture(scope="module")
def nodes(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[Gunicorn]]:
    require_haproxy()
    folder = tmp_path_factory.mktemp("nodes")
    env = {"AUTH_ENABLED": "false", "GUNICORN_CMD_ARGS": ACCESS}
    with ExitStack() as stack:
        yield [
            stack.enter_context(
                running_gunicorn(database_url, folder / f"node{n}.log", workers=WORKERS, env=env)
            )
            for n in range(1, NODES + 1)
        ]


@pytest.fixture(scope="module")
def balancer(nodes: list[Gunicorn], tmp_path_factory: pytest.TempPathFactory) -> Iterator[HAProxy]:
    folder = tmp_path_factory.mktemp("haproxy")
    with running_haproxy([node.port for node in nodes], folder) as proxy:
        yield proxy


@pytest.fixture
def pool() -> Iterator[ThreadPoolExecutor]:
    """Threads for watchers, each blocked on its own connection."""
    executor = ThreadPoolExecutor(max_workers=64)
    yield executor
    executor.shutdown(wait=False, cancel_futures=True)


class Line:
    """One keep-alive HTTP connection: gunicorn serves all its requests on one worker."""

    def __init__(self, port: int, node: Gunicorn | None = None):
        self.node = node  # None: through the balancer
        self.http = http.client.HTTPConnection("127.0.0.1", port, timeout=WAIT + 10)

    def call(self, method: str, path: str, body: Any = None, **headers: str) -> Answer:
        data = None if body is None else json.dumps(body).encode()
        if data is not None:
            headers["Content-Type"] = "application/json"
        try:
            self.http.request(method, path, body=data, headers=headers)
            response = self.http.getresponse()
            raw = response.read()
        except (BrokenPipeError, ConnectionResetError):
            # An early answer (a 413) closed the connection before the whole body was sent,
            # as HTTP allows: read what was answered, then start a new connection.
            response = http.client.HTTPResponse(self.http.sock, method=method)
            response.begin()
            raw = response.read()
            self.http.close()
        headers = {name.lower(): value for name, value in response.getheaders()}
        return Answer(response.status, headers, raw, time.monotonic())

    def worker(self) -> int:
        """Return the PID of the worker holding this connection (direct lines only)."""
        assert self.node is not None and self.http.sock is not None
        inode = _server_socket(self.node.port, self.http.sock.getsockname()[1])
        for pid in self.node.worker_pids():
            with suppress(OSError):  # the worker exited or closed a descriptor meanwhile
                for fd in Path(f"/proc/{pid}/fd").iterdir():
                    if os.readlink(fd) == f"socket:[{inode}]":
                        return pid
        raise AssertionError(f"no worker of {self.node.port} holds the connection")


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    raw: bytes
    finished: float

    @property
    def body(self) -> Any:
        return json.loads(self.raw) if self.raw else None


def _server_socket(port: int, client_port: int) -> str:
    """Return the inode of the server side of 127.0.0.1:client_port -> 127.0.0.1:port."""
    for row in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = row.split()
        local, remote = (int(a.rsplit(":", 1)[1], 16) for a in fields[1:3])
        if local == port and remote == client_port:
            return fields[9]
    raise AssertionError(f"no connection from port {client_port} to {port}")


def on_every_worker(node: Gunicorn, path: str) -> list[Line]:
    """Open connections to a node until each of its workers holds one; each read `path`
    twice (the second answer comes from that worker's cache)."""
    lines: list[Line] = []
    held: set[int] = set()
    while set(node.worker_pids()) - held:
        assert len(lines) < 40, f"connections reached only workers {held} of {node.port}"
        line = Line(node.port, node)
        for _ in range(2):
            assert line.call("GET", path).status == 200
        lines.append(line)
        held.add(line.worker())
    return lines


def parked(server_port: int) -> int:
    """Return the node's watchers_waiting gauge (summed over its workers, sampled each second)."""
    line = Line(server_port)
    text = line.call("GET", "/metrics").raw
    line.http.close()
    found = re.search(rb"^watchers_waiting(?:\{[^}]*\})? ([0-9.e+]+)$", text, re.M)
    return int(float(found.group(1))) if found else 0


def wait_until(condition: Callable[[], Any], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"no {what} after {timeout} s"
        time.sleep(0.05)  # polling interval


def quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def create(line: Line) -> dict[str, Any]:
    """Create a configuration at version 1 (tables are emptied after each test)."""
    made = line.call("POST", "/api/v1/applications", {"name": f"nodes-{time.time_ns()}"})
    assert made.status == 201, made.body
    new = {"application_id": made.body["id"], "name": "database", "config": {"n": 0}}
    made = line.call("POST", API, new)
    assert made.status == 201, made.body
    return made.body


def write(line: Line, configuration_id: str, n: int) -> dict[str, Any]:
    """Merge-patch the configuration; return the answered body."""
    answer = line.call("PATCH", f"{API}/{configuration_id}", {"config": {"n": n}})
    assert answer.status == 200, answer.body
    return answer.body


class Watchers:
    """Long polls (GET with If-None-Match and POST /watch) parked on given connections."""

    def __init__(self, pool: ThreadPoolExecutor, configuration: dict[str, Any]):
        self.pool, self.configuration = pool, configuration
        self.parked: list[tuple[Line, str, Future[Answer]]] = []

    def park(self, line: Line, kind: str) -> None:
        etag = f'"{self.configuration["version"]}"'
        headers = {"If-None-Match": etag, "Prefer": f"wait={WAIT}"}
        if kind == "get":
            path = f"{API}/{self.configuration['id']}"
            future = self.pool.submit(line.call, "GET", path, **headers)
        else:
            body = {"watch": [{"id": self.configuration["id"], "etag": etag}]}
            future = self.pool.submit(
                line.call, "POST", "/api/v1/watch", body, Prefer=headers["Prefer"]
            )
        self.parked.append((line, kind, future))

    def delivered(self, version: int, since: float, timeout: float) -> list[float]:
        """Wait for every watcher's answer; check each names `version`; return latencies."""
        latencies = []
        for line, kind, future in self.parked:
            answer = future.result(timeout=timeout)
            where = f"{kind} on {line.node.port if line.node else 'the balancer'}"
            assert answer.status == 200, f"{where}: {answer.status} {answer.body}"
            if kind == "get":
                assert answer.headers["etag"] == f'"{version}"', where
            else:
                assert [c["etag"] for c in answer.body["changes"]] == [f'"{version}"'], where
            latencies.append(answer.finished - since)
        return latencies

    def close(self) -> None:
        for line, _, _ in self.parked:
            line.http.close()


def park_everywhere(watchers: Watchers, nodes: list[Gunicorn], balancer: HAProxy) -> None:
    """Park a GET and a POST /watch watcher on every worker of every node, and some through
    the balancer; return once every node counts them as waiting."""
    path = f"{API}/{watchers.configuration['id']}"
    for node in nodes:
        for kind in ("get", "post"):
            for line in on_every_worker(node, path):
                watchers.park(line, kind)
    for n in range(4 * NODES):
        watchers.park(Line(balancer.port), ("get", "post")[n % 2])
    total = len(watchers.parked)
    wait_until(lambda: sum(map(parked, [n.port for n in nodes])) == total, 15, f"{total} parked")


def direct(node: Gunicorn) -> Line:
    return Line(node.port, node)


def test_the_balancer_spreads_requests_and_replaces_forwarded_headers(
    nodes: list[Gunicorn], balancer: HAProxy
) -> None:
    for n in range(4 * NODES):  # what a client sends as X-Forwarded-For is replaced
        answer = Line(balancer.port).call(
            "GET", f"/healthz?xff-{n}", **{"X-Forwarded-For": "203.0.113.9"}
        )
        assert answer.status == 200
    time.sleep(0.5)  # gunicorn writes its access line just after answering
    lines = [line for node in nodes for line in node.log_tail(400).splitlines() if "?xff-" in line]
    assert len(lines) == 4 * NODES
    assert all("forwarded for=127.0.0.1 proto=http GET /healthz?xff-" in line for line in lines)
    assert all(any("?xff-" in line for line in node.log_tail(400).splitlines()) for node in nodes)


def test_a_body_over_max_content_length_is_refused_by_the_balancer(balancer: HAProxy) -> None:
    answer = Line(balancer.port).call("POST", "/api/v1/applications", {"name": "x" * (1 << 20)})
    assert answer.status == 413
    assert answer.headers["content-type"] == "text/html", answer.raw  # HAProxy's, not a problem


def test_a_write_through_one_node_wakes_watchers_on_every_node_within_a_second(
    nodes: list[Gunicorn], balancer: HAProxy, pool: ThreadPoolExecutor
) -> None:
    configuration = create(Line(balancer.port))
    latencies: list[float] = []
    for round_ in range(ROUNDS):
        watchers = Watchers(pool, configuration)
        park_everywhere(watchers, nodes, balancer)
        sent = time.monotonic()  # latencies include the write's own round trip
        configuration = write(direct(nodes[round_ % NODES]), configuration["id"], round_ + 1)
        latencies += watchers.delivered(configuration["version"], sent, timeout=WAIT)
        watchers.close()

    report("write on one node to watchers on all", latencies)
    assert max(latencies) < PROMPT


def report(what: str, latencies: list[float]) -> None:
    """Print the figures (pytest -s shows them; the README quotes them)."""
    p50, p99 = (quantile(latencies, q) * 1000 for q in (0.5, 0.99))
    print(
        f"\n{what}: {len(latencies)} answers, p50 {p50:.0f} ms, p99 {p99:.0f} ms,"
        f" max {max(latencies) * 1000:.0f} ms"
    )


def test_no_node_serves_a_cached_answer_older_than_a_write_it_was_notified_of(
    nodes: list[Gunicorn], balancer: HAProxy, pool: ThreadPoolExecutor
) -> None:
    configuration = create(Line(balancer.port))
    path = f"{API}/{configuration['id']}"
    watchers = Watchers(pool, configuration)
    park_everywhere(watchers, nodes, balancer)  # each worker has cached version 1 meanwhile
    updated = write(direct(nodes[0]), configuration["id"], 1)

    # Every worker of every node answered a watcher: each has heard the NOTIFY.
    watchers.delivered(updated["version"], time.monotonic(), timeout=WAIT)
    for line, _, _ in watchers.parked:  # a direct line is served by the worker it woke on
        worker = line.worker() if line.node else "balancer"
        answer = line.call("GET", path)
        assert answer.headers["etag"] == f'"{updated["version"]}"', worker
    for node in nodes:
        assert direct(node).call("GET", path).headers["etag"] == f'"{updated["version"]}"'
    watchers.close()


# A NOTIFY missed by every listener: each worker's LISTEN backend is ended, and the write
# commits before any of them listens again.


def listeners(db: Any) -> dict[int, Any]:
    """Return the change listeners' backends on the test database: PID -> backend_start."""
    with db.cursor() as cur:
        cur.execute(
            "SELECT pid, backend_start FROM pg_stat_activity"
            " WHERE application_name = %s AND datname = current_database()",
            (LISTENER,),
        )
        return dict(cur.fetchall())


def test_a_change_missed_while_every_listener_reconnects_still_reaches_every_watcher(
    nodes: list[Gunicorn], balancer: HAProxy, pool: ThreadPoolExecutor, database_url: str
) -> None:
    configuration = create(Line(balancer.port))
    path = f"{API}/{configuration['id']}"
    watchers = Watchers(pool, configuration)
    park_everywhere(watchers, nodes, balancer)
    db = psycopg2.connect(database_url)
    db.autocommit = True
    try:
        old = listeners(db)
        assert len(old) >= NODES * WORKERS
        with db.cursor() as cur:
            cur.execute(
                "SELECT pg_terminate_backend(pid) FROM unnest(%s::int[]) AS pid", (list(old),)
            )
        wait_until(lambda: not listeners(db).keys() & old.keys(), 5, "old listeners gone")
        sent = time.monotonic()
        updated = write(direct(nodes[0]), configuration["id"], 1)
        with db.cursor() as cur:
            cur.execute("SELECT clock_timestamp()")
            acknowledged = cur.fetchone()[0]
        version = f'"{updated["version"]}"'
        # Reads now, listeners down or just back: from the database, never the cached v1.
        for line in [*map(direct, nodes), Line(balancer.port)]:
            assert line.call("GET", path).headers["etag"] == version

        latencies = watchers.delivered(updated["version"], sent, timeout=WAIT)
        back = listeners(db)
    finally:
        db.close()

    # The write committed while no listener listened: every NOTIFY of it was lost.
    assert len(back) >= NODES * WORKERS and not back.keys() & old.keys()
    assert all(started > acknowledged for started in back.values()), (acknowledged, back)
    report("a write missed by every listener, to watchers on all", latencies)
    assert max(latencies) < PROMPT
    for line, _, _ in watchers.parked:
        assert line.call("GET", path).headers["etag"] == version
    watchers.close()
