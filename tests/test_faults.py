"""Faults under load, against a real gunicorn and a private PostgreSQL that the tests stop,
crash and start: 503s in time and recovery, no lost acknowledged write, a killed worker,
a statement timeout, and SIGTERM with requests in flight. Each test prints its figures."""

from __future__ import annotations

import http.client
import json
import os
import re
import signal
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg2
import pytest

from app import migrations
from tests.helpers import MIGRATIONS_DIR
from tests.pgbouncer import require_pgbouncer, running_pgbouncer
from tests.pgcluster import PgCluster
from tests.servers import Gunicorn, _workers_accepting, running_gunicorn

pytestmark = pytest.mark.slow

CONNECT_TIMEOUT = 2  # DB_CONNECT_TIMEOUT of the servers under test
ANSWER_WITHIN = CONNECT_TIMEOUT + 1.0  # a 503 within DB_CONNECT_TIMEOUT + 1 s
RECOVER_WITHIN = 5.0  # seconds from the database accepting again to requests succeeding
CLIENT_TIMEOUT = 15.0  # a request that takes this long has hung
PAUSE = 0.01  # between one thread's requests: load, not a busy loop on two cores
API = "/api/v1/configurations"


@dataclass
class Call:
    """One request's outcome: status 0 means no answer at all (see `error`)."""

    method: str
    path: str
    started: float
    finished: float = 0.0
    status: int = 0
    headers: dict[str, str] = field(default_factory=dict)
    body: Any = None
    error: str = ""

    @property
    def seconds(self) -> float:
        return self.finished - self.started

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300


def call(server: Gunicorn, method: str, path: str, body: Any = None, **headers: str) -> Call:
    """Send one request on a new connection; never raises."""
    result = Call(method, path, time.monotonic())
    conn = server.connection(timeout=CLIENT_TIMEOUT)
    sent = {"Connection": "close", **{k.replace("_", "-"): v for k, v in headers.items()}}
    payload = None
    if body is not None:
        payload, sent["Content-Type"] = json.dumps(body), "application/json"
    try:
        conn.request(method, path, body=payload, headers=sent)
        response = conn.getresponse()
        raw = response.read()
        result.status = response.status
        result.headers = {k.lower(): v for k, v in response.getheaders()}
        result.body = json.loads(raw) if raw else None
    except (OSError, http.client.HTTPException, ValueError) as exc:
        result.error = repr(exc)
    finally:
        conn.close()
        result.finished = time.monotonic()
    return result


class Load:
    """Threads that repeat `action(thread, i)` until the block ends, keeping every Call."""

    def __init__(self, threads: int, action: Callable[[int, int], Call]):
        self.calls: list[Call] = []
        self._action = action
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._run, args=(n,)) for n in range(threads)]

    def __enter__(self) -> Load:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=CLIENT_TIMEOUT + 5)

    def _run(self, thread: int) -> None:
        i = 0
        while not self._stop.is_set():
            self.calls.append(self._action(thread, i))
            i += 1
            self._stop.wait(PAUSE)

    def first_success(self, after: float, timeout: float) -> float | None:
        """Wait until a request started after `after` succeeds; return when it finished."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            done = [c.finished for c in list(self.calls) if c.started >= after and c.ok]
            if done:
                return min(done)
            time.sleep(0.02)  # polling interval
        return None


class Writer:
    """Creates configurations and merge-patches its own, noting every acknowledged write."""

    def __init__(self, server: Gunicorn, application_id: str, tag: str):
        self.server, self.application_id, self.tag = server, application_id, tag
        self.acknowledged: list[tuple[str, int, Any]] = []  # (id, version, config)
        self.unacknowledged_creates: list[str] = []  # names of creates with no 2xx answer
        self._mine: list[str] = []

    def step(self, i: int) -> Call:
        if not self._mine or i % 3 == 0:
            name = f"{self.tag}-{i}"
            body = {"application_id": self.application_id, "name": name, "config": {"i": i}}
            answer = call(self.server, "POST", API, body)
            if answer.status == 201:
                self._mine.append(answer.body["id"])
            elif not answer.ok:
                self.unacknowledged_creates.append(name)
        else:
            target = self._mine[i % len(self._mine)]
            answer = call(self.server, "PATCH", f"{API}/{target}", {"config": {"i": i}})
        if answer.ok:
            body = answer.body
            self.acknowledged.append((body["id"], body["version"], body["config"]))
        return answer


@pytest.fixture(scope="module")
def cluster() -> Iterator[PgCluster]:
    """A private PostgreSQL cluster for this module, deleted at the end."""
    made = PgCluster.create()
    try:
        made.start()
        yield made
    finally:
        made.destroy()


@pytest.fixture
def database(cluster: PgCluster) -> Iterator[str]:
    """A fresh database on the private cluster, migrated; the cluster is left running."""
    if not cluster.running():
        cluster.start()
    dsn = cluster.create_database(f"faults_{uuid.uuid4().hex[:10]}")
    migrations.migrate(dsn, MIGRATIONS_DIR)
    yield dsn
    if not cluster.running():
        cluster.start()


@contextmanager
def serve(database: str, tmp_path: Path, **env: str) -> Iterator[Gunicorn]:
    """gunicorn with two workers on the private database, auth off, a short connect timeout."""
    settings = {"AUTH_ENABLED": "false", "DB_CONNECT_TIMEOUT": str(CONNECT_TIMEOUT), **env}
    log = tmp_path / "gunicorn.log"
    with running_gunicorn(database, log, workers=2, threads=16, env=settings) as server:
        yield server


@contextmanager
def reached(via: str, cluster: PgCluster, database: str) -> Iterator[str]:
    """Yield the URL the service uses: the database, or a PgBouncer in front of the cluster."""
    if via == "direct":
        yield database
        return
    require_pgbouncer()
    # A client waits for a server connection up to query_wait_timeout (checked about once a
    # second): while PostgreSQL is down that is how long a request takes to fail, so keep it
    # below DB_CONNECT_TIMEOUT.
    wait = CONNECT_TIMEOUT - 1
    with running_pgbouncer(cluster.dsn(), pool_size=20, query_wait_timeout=wait) as bouncer:
        yield bouncer.url(database)


def seed(server: Gunicorn, name: str = "billing") -> tuple[str, dict[str, Any]]:
    """Create an application and its configuration "database"; return (app id, config)."""
    application = call(server, "POST", "/api/v1/applications", {"name": name})
    assert application.status == 201, application
    body = {"application_id": application.body["id"], "name": "database", "config": {"n": 0}}
    created = call(server, "POST", API, body)
    assert created.status == 201, created
    return application.body["id"], created.body


def report(title: str, figures: dict[str, Any], capsys: pytest.CaptureFixture[str]) -> None:
    """Print a test's figures, even when pytest captures output."""
    shown = ", ".join(
        f"{k} {v * 1000:.0f} ms" if isinstance(v, float) else f"{k} {v}" for k, v in figures.items()
    )
    with capsys.disabled():
        print(f"\n[faults] {title}: {shown}")


def quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


def assert_503_problem(answer: Call) -> None:
    assert answer.status == 503, answer
    assert answer.headers["content-type"] == "application/problem+json", answer
    assert int(answer.headers["retry-after"]) >= 1, answer
    assert answer.body["status"] == 503, answer


def lost_writes(database: str, writers: list[Writer]) -> list[tuple[str, int, Any]]:
    """Return the acknowledged writes whose version is not in the database as answered."""
    conn = psycopg2.connect(database)
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT configuration_id, version, config FROM configuration_versions")
            stored = {(row[0], row[1]): row[2] for row in cur.fetchall()}
    finally:
        conn.close()
    acknowledged = [write for writer in writers for write in writer.acknowledged]
    return [(i, v, c) for i, v, c in acknowledged if stored.get((i, v)) != c]


def committed_names(database: str, names: list[str]) -> int:
    """Count the configurations of these names that exist (written, answered with no 2xx)."""
    conn = psycopg2.connect(database)
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT count(*) FROM configurations WHERE name = ANY(%s)", (names,))
            return cur.fetchone()[0]
    finally:
        conn.close()


@dataclass(frozen=True)
class Session:
    pid: int
    application: str
    state: str
    waiting_on: str | None


def sessions(database: str) -> list[Session]:
    """Return the service's sessions (pool and listener) on a private database."""
    conn = psycopg2.connect(database)
    try:
        with conn.cursor() as cur:
            cur.execute(
                "SELECT pid, application_name, state, wait_event_type FROM pg_stat_activity"
                " WHERE datname = current_database() AND application_name LIKE 'config-service%'"
            )
            return [Session(*row) for row in cur.fetchall()]
    finally:
        conn.close()


def watchers_parked(server: Gunicorn) -> float:
    """Return watchers_waiting from /metrics (each worker refreshes it once a second)."""
    conn = server.connection(timeout=CLIENT_TIMEOUT)
    try:
        conn.request("GET", "/metrics")
        text = conn.getresponse().read().decode()
    finally:
        conn.close()
    match = re.search(r"^watchers_waiting (\S+)$", text, re.MULTILINE)
    return float(match.group(1)) if match else 0.0


def wait_until(condition: Callable[[], Any], timeout: float, what: str) -> float:
    """Poll until `condition` holds; return when it did (fail after `timeout` seconds)."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"no {what} after {timeout} s"
        time.sleep(0.02)  # polling interval
    return time.monotonic()


def in_transaction(database: str) -> list[Session]:
    return [s for s in sessions(database) if (s.state or "").startswith("idle in transaction")]


# The database goes away under load, and comes back


@pytest.mark.parametrize("via", ["direct", "pgbouncer"])
def test_database_stopped_under_load_answers_503_then_recovers(
    via: str,
    database: str,
    cluster: PgCluster,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    with (
        reached(via, cluster, database) as url,
        serve(url, tmp_path, DATABASE_LISTEN_URL=database) as server,
    ):
        _, configuration = seed(server)
        by_id = f"{API}/{configuration['id']}"
        reads = [by_id, "/api/v1/applications/by-name/billing/configurations/database", "/readyz"]

        def action(thread: int, i: int) -> Call:
            if i % 4 == 3:
                return call(server, "PATCH", by_id, {"config": {f"t{thread}": i}})
            return call(server, "GET", reads[i % 3])

        workers = sorted(server.worker_pids())
        with Load(6, action) as load:
            time.sleep(1.5)
            stopping = time.monotonic()
            cluster.stop("fast")
            stopped = time.monotonic()
            time.sleep(4)
            starting = time.monotonic()
            cluster.start()
            started = time.monotonic()
            recovered = load.first_success(after=started, timeout=RECOVER_WITHIN + 5)
            time.sleep(1.5)
        calls = load.calls
        assert sorted(server.worker_pids()) == workers  # no restart: the same workers serve
        log = server.log_tail()

    failed = [c for c in calls if not c.ok]
    down = [c for c in calls if c.started >= stopped and c.finished <= starting]
    first_503 = min((c.finished for c in failed if c.started >= stopping), default=float("nan"))
    report(
        f"database stopped (fast) under load, {via}",
        {
            "requests": len(calls),
            "during the outage": len(down),
            "503s": len(failed),
            "first 503 after the stop began": first_503 - stopping,
            "503 latency p50": quantile([c.seconds for c in failed], 0.5),
            "503 latency max": max((c.seconds for c in failed), default=float("nan")),
            "server restart": started - starting,
            "first success after the restart": (recovered or float("nan")) - started,
        },
        capsys,
    )
    assert not [c for c in calls if c.status == 0], [c for c in calls if c.status == 0][:3]
    slowest = sorted(calls, key=lambda c: c.seconds)[-3:]
    assert slowest[-1].seconds <= ANSWER_WITHIN, slowest
    for answer in failed:
        assert_503_problem(answer)
    assert len(down) >= 20 and not [c for c in down if c.ok]
    assert recovered is not None and recovered - started < RECOVER_WITHIN, log
    late = [c for c in calls if c.started >= recovered]
    assert late and all(c.ok for c in late), [c for c in late if not c.ok][:3]


def test_no_acknowledged_write_is_lost_across_a_crash(
    database: str, cluster: PgCluster, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with serve(database, tmp_path) as server:
        application_id, _ = seed(server)
        writers = [Writer(server, application_id, f"w{n}") for n in range(4)]
        with Load(len(writers), lambda thread, i: writers[thread].step(i)) as load:
            time.sleep(1.5)
            acknowledged_before = sum(len(w.acknowledged) for w in writers)
            cluster.stop("immediate")  # a crash: the restart replays the WAL
            time.sleep(3)
            cluster.start()
            started = time.monotonic()
            recovered = load.first_success(after=started, timeout=RECOVER_WITHIN + 5)
            time.sleep(1.5)
        calls = load.calls

    acknowledged = sum(len(w.acknowledged) for w in writers)
    lost = lost_writes(database, writers)
    unanswered = [name for w in writers for name in w.unacknowledged_creates]
    report(
        "writers across a crash (immediate stop) and restart",
        {
            "writes acknowledged": acknowledged,
            "of them after the restart": acknowledged - acknowledged_before,
            "answered 503": sum(c.status == 503 for c in calls),
            "creates answered 503 yet committed": committed_names(database, unanswered),
            "acknowledged writes lost": len(lost),
            "first success after the restart": (recovered or float("nan")) - started,
        },
        capsys,
    )
    assert acknowledged_before > 0 and acknowledged > acknowledged_before
    assert not lost, lost[:5]
    for answer in (c for c in calls if not c.ok):
        assert_503_problem(answer)


# A worker dies


def test_a_killed_worker_is_replaced_and_no_acknowledged_write_is_lost(
    database: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with serve(database, tmp_path) as server:
        application_id, _ = seed(server)
        writers = [Writer(server, application_id, f"k{n}") for n in range(4)]
        with Load(len(writers), lambda thread, i: writers[thread].step(i)) as load:
            time.sleep(1.5)
            before = server.worker_pids()
            victim = before[0]
            os.kill(victim, signal.SIGKILL)
            killed = time.monotonic()

            def replaced() -> bool:
                pids = server.worker_pids()
                return victim not in pids and _workers_accepting(server)

            serving = wait_until(replaced, 15, "replacement worker accepting")
            acknowledged_then = sum(len(w.acknowledged) for w in writers)
            time.sleep(1.5)
        calls = load.calls
        after = server.worker_pids()
        assert server.process.poll() is None

    acknowledged = sum(len(w.acknowledged) for w in writers)
    dropped = [c for c in calls if c.status == 0]
    lost = lost_writes(database, writers)
    report(
        "worker SIGKILLed under load",
        {
            "replacement accepting after": serving - killed,
            "requests dropped (in flight on the dead worker)": len(dropped),
            "writes acknowledged": acknowledged,
            "of them after the replacement": acknowledged - acknowledged_then,
            "acknowledged writes lost": len(lost),
        },
        capsys,
    )
    assert len(set(after) - set(before)) == 1 and victim not in after
    assert all(c.started < killed for c in dropped), dropped[:3]
    assert all(c.ok for c in calls if c.status), [c for c in calls if c.status and not c.ok][:3]
    assert acknowledged > acknowledged_then
    assert not lost, lost[:5]
    # The dead worker's sessions ended with it; nothing was left inside a transaction.
    wait_until(lambda: not in_transaction(database), 5, "end of the dead worker's transactions")


# A statement runs too long


def get_kept_alive(conn: http.client.HTTPConnection, path: str) -> Call:
    """GET from the database (not the worker's cache) on an open keep-alive connection (so
    on the same worker every time)."""
    result = Call("GET", path, time.monotonic())
    conn.request("GET", path, headers={"Cache-Control": "no-cache"})
    response = conn.getresponse()
    raw = response.read()
    result.finished, result.status = time.monotonic(), response.status
    result.headers = {k.lower(): v for k, v in response.getheaders()}
    result.body = json.loads(raw) if raw else None
    return result


def test_statement_timeout_answers_503_and_the_connection_stays_usable(
    database: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    env = {"DB_STATEMENT_TIMEOUT_MS": "500", "DB_POOL_MIN": "1", "DB_POOL_MAX": "1"}
    with serve(database, tmp_path, **env) as server:
        _, configuration = seed(server)
        path = f"{API}/{configuration['id']}"
        conn = server.connection(timeout=CLIENT_TIMEOUT)
        locker = psycopg2.connect(database)
        try:
            assert get_kept_alive(conn, path).status == 200
            socket_before = conn.sock.getsockname()
            before = sessions(database)
            with locker.cursor() as cur:  # held until rollback: the GET below must wait
                cur.execute("LOCK TABLE configurations IN ACCESS EXCLUSIVE MODE")
            timed_out = get_kept_alive(conn, path)
            locker.rollback()
            after = [get_kept_alive(conn, path) for _ in range(3)]
            socket_after = conn.sock.getsockname()
        finally:
            locker.close()
            conn.close()
        sessions_after = sessions(database)

    report(
        "statement timeout (500 ms) on a lock wait",
        {"time to 503": timed_out.seconds, "next request on the same worker": after[0].seconds},
        capsys,
    )
    assert_503_problem(timed_out)
    assert 0.45 <= timed_out.seconds < 0.5 + 1.5
    assert [a.status for a in after] == [200] * 3
    assert after[0].body == configuration
    assert socket_after == socket_before  # one keep-alive connection: the same worker
    # No session was opened or closed: the timed-out connection went back to the pool.
    assert {s.pid for s in sessions_after} == {s.pid for s in before}
    assert {s.state for s in sessions_after} == {"idle"}


# SIGTERM with requests in flight


def test_sigterm_finishes_in_flight_requests_and_ends_long_polls(
    database: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    graceful = 10
    env = {"GUNICORN_GRACEFUL_TIMEOUT": str(graceful), "DB_STATEMENT_TIMEOUT_MS": "8000"}
    locker = psycopg2.connect(database)
    with serve(database, tmp_path, **env) as server, ThreadPoolExecutor(2) as pool:
        _, configuration = seed(server)
        path = f"{API}/{configuration['id']}"
        watcher = pool.submit(call, server, "GET", path, If_None_Match='"1"', Prefer="wait=20")
        wait_until(lambda: watchers_parked(server) >= 1, 10, "parked watcher")
        with locker.cursor() as cur:
            cur.execute("LOCK TABLE configurations IN ACCESS EXCLUSIVE MODE")
        # no-cache: a cached answer would not wait for the lock at all
        blocked = pool.submit(call, server, "GET", path, Cache_Control="no-cache")
        wait_until(
            lambda: any(s.waiting_on == "Lock" for s in sessions(database)), 10, "blocked GET"
        )
        terminated = time.monotonic()
        server.process.send_signal(signal.SIGTERM)
        time.sleep(1.0)
        released = time.monotonic()
        locker.rollback()
        watched, answered = watcher.result(graceful + 5), blocked.result(graceful + 5)
        code = server.process.wait(graceful + 5)
        exited = time.monotonic()
    locker.close()
    gone = wait_until(lambda: not sessions(database), 5, "end of the service's sessions")

    report(
        "SIGTERM with a watcher (wait=20) and a request blocked on a lock",
        {
            "watcher answered after": watched.finished - terminated,
            "blocked request answered after": answered.finished - terminated,
            "lock released at": released - terminated,
            "gunicorn exited after": exited - terminated,
            "sessions gone after": gone - terminated,
        },
        capsys,
    )
    assert watched.status == 304, watched
    assert watched.headers["etag"] == '"1"'
    assert watched.finished - terminated < 1.0
    assert answered.status == 200, answered
    assert answered.body == configuration
    assert answered.finished >= released  # it was held by the lock, and let finish
    assert code == 0
    assert exited - terminated < graceful
