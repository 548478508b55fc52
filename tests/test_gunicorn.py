"""The real gunicorn: each worker builds its own pool after the fork; SIGTERM stops it in time."""

from __future__ import annotations

import http.client
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import psutil
import psycopg2
import pytest
from psycopg2.extensions import parse_dsn

from app.settings import PROJECT_ROOT

GUNICORN = str(Path(sys.executable).parent / "gunicorn")
# A clean exit takes 1-2 s (5.1 s once, in CI beside three other suites on 2 cores); one
# that waits for the graceful timeout is killed at it: the margin tells them apart.
GRACEFUL_TIMEOUT = 10


@dataclass
class Server:
    process: subprocess.Popen
    port: int
    log: Path

    def get(self, path: str) -> tuple[int, bytes]:
        """Make one request over a new connection."""
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        try:
            conn.request("GET", path, headers={"Connection": "close"})
            response = conn.getresponse()
            return response.status, response.read()
        finally:
            conn.close()

    def workers(self) -> list[psutil.Process]:
        return psutil.Process(self.process.pid).children()

    def wait_for_workers(self, count: int, deadline: float) -> list[psutil.Process]:
        """Poll until the master has forked `count` workers (the first may serve before)."""
        while len(workers := self.workers()) < count:
            assert time.monotonic() < deadline, f"gunicorn forked {len(workers)} workers"
            time.sleep(0.02)
        return workers


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_until_serving(server: Server, deadline: float) -> None:
    """Poll /healthz until it answers (or gunicorn dies, or time runs out)."""
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            pytest.fail(f"gunicorn exited early:\n{server.log.read_text()}")
        try:
            if server.get("/healthz")[0] == 200:
                return
        except (OSError, http.client.HTTPException):
            pass  # not listening yet
        time.sleep(0.05)
    pytest.fail(f"gunicorn did not serve in time:\n{server.log.read_text()}")


@pytest.fixture
def gunicorn(database_url: str, tmp_path: Path) -> Iterator[Server]:
    """A real gunicorn with two workers on a free port, stopped by PID at the end."""
    port = free_port()
    keep = {k: v for k, v in os.environ.items() if not k.startswith(("DB_", "LOG_", "GUNICORN_"))}
    environ = {
        **keep,
        "DATABASE_URL": database_url,
        "GUNICORN_BIND": f"127.0.0.1:{port}",
        "GUNICORN_WORKERS": "2",
        "GUNICORN_THREADS": "4",
        "GUNICORN_GRACEFUL_TIMEOUT": str(GRACEFUL_TIMEOUT),
    }
    log = tmp_path / "gunicorn.log"
    with log.open("w") as sink:
        process = subprocess.Popen(
            [GUNICORN, "-c", str(PROJECT_ROOT / "gunicorn.conf.py"), "wsgi:app"],
            cwd=PROJECT_ROOT,
            env=environ,
            stdout=sink,
            stderr=subprocess.STDOUT,
        )
    server = Server(process, port, log)
    children: list[psutil.Process] = []
    try:
        wait_until_serving(server, time.monotonic() + 30)
        children = server.wait_for_workers(2, time.monotonic() + 10)
        yield server
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=GRACEFUL_TIMEOUT + 5)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        for child in children:  # only the workers this master started
            if child.is_running():
                child.kill()


def db_sessions(process: psutil.Process, database_url: str) -> set[int]:
    """The backend pids of a process's connections to the database server (TCP or unix)."""
    params = parse_dsn(database_url)
    port = int(params.get("port", 5432))
    if str(params.get("host", "")).startswith("/"):  # the embedded server: a unix socket
        return _unix_peers(process.pid, f"/.s.PGSQL.{port}")
    local_ports = {
        c.laddr.port
        for c in process.net_connections(kind="tcp")
        if c.raddr and c.raddr.port == port
    }
    return {
        pid for client_port, pid in service_backends(database_url) if client_port in local_ports
    }


def _unix_peers(pid: int, socket_suffix: str) -> set[int]:
    """Pids owning the far end of `pid`'s unix stream sockets bound to a path ending so."""
    if shutil.which("ss") is None:  # .ci/run installs it
        pytest.skip("ss (iproute2) is needed to see sessions over a unix socket")
    lines = subprocess.run(["ss", "-xpn"], capture_output=True, text=True, check=True).stdout
    ends = []  # (path, own inode, peer inode, owner pid)
    for line in lines.splitlines()[1:]:
        fields, owner = line.split(), re.search(r"pid=(\d+),", line)
        if len(fields) >= 8 and owner:
            ends.append((fields[4], fields[5], fields[7], int(owner.group(1))))
    peers = {peer for _, _, peer, owner in ends if owner == pid}
    return {
        owner for path, inode, _, owner in ends if inode in peers and path.endswith(socket_suffix)
    }


def service_backends(database_url: str) -> list[tuple[int, int]]:
    """(client port, backend pid) of the service's sessions on the test database."""
    conn = psycopg2.connect(database_url)
    try:
        with conn.cursor() as cur:
            cur.execute(
                "SELECT client_port, pid FROM pg_stat_activity"
                " WHERE datname = current_database() AND application_name = 'config-service'"
            )
            return cur.fetchall()
    finally:
        conn.close()


def spread_requests(server: Server, count: int) -> list[int]:
    """Make requests to a database route in parallel, each over a new connection."""

    def status(_: int) -> int:
        try:
            return server.get("/readyz")[0]
        except (OSError, http.client.HTTPException):
            return 0  # no answer at all

    with ThreadPoolExecutor(max_workers=8) as pool:
        return list(pool.map(status, range(count)))


def test_workers_never_share_a_database_connection(gunicorn: Server, database_url: str) -> None:
    workers = gunicorn.workers()
    assert len(workers) == 2

    statuses = spread_requests(gunicorn, 40)
    deadline = time.monotonic() + 15
    while sum(1 for w in workers if db_sessions(w, database_url)) < 2:
        assert time.monotonic() < deadline, "only one worker ever answered"
        statuses += spread_requests(gunicorn, 20)

    sessions = {worker.pid: db_sessions(worker, database_url) for worker in workers}
    # The pool is built after the fork: the master holds no database connection...
    assert db_sessions(psutil.Process(gunicorn.process.pid), database_url) == set()
    # ...and no database session is reached by two workers.
    first, second = sessions.values()
    assert first and second
    assert first.isdisjoint(second)
    # Each is one of the service's sessions on the test database.
    assert first | second <= {pid for _, pid in service_backends(database_url)}
    assert set(statuses) == {200}


def test_sigterm_stops_gunicorn_gracefully(gunicorn: Server, database_url: str) -> None:
    assert gunicorn.get("/readyz")[0] == 200
    workers = gunicorn.workers()
    sessions = set().union(*(db_sessions(worker, database_url) for worker in workers))
    assert sessions

    started = time.monotonic()
    gunicorn.process.send_signal(signal.SIGTERM)
    code = gunicorn.process.wait(timeout=GRACEFUL_TIMEOUT + 2)

    assert time.monotonic() - started < GRACEFUL_TIMEOUT
    assert code == 0
    assert not any(worker.is_running() for worker in workers)
    # The workers closed their pools on the way out.
    deadline = time.monotonic() + 5
    while sessions & {pid for _, pid in service_backends(database_url)}:
        assert time.monotonic() < deadline, "the service's sessions outlived gunicorn"
        time.sleep(0.05)


def test_control_socket_is_off_unless_a_path_is_given(gunicorn: Server, tmp_path: Path) -> None:
    # gunicorn's default path is one per user: a second instance would take it over.
    assert "Control socket" not in gunicorn.log.read_text()
    path = tmp_path / "own.ctl"
    environ = {**os.environ, "DATABASE_URL": "postgresql://u@127.0.0.1/d"}
    config = {}
    for socket_path in ("", str(path)):
        result = subprocess.run(
            [GUNICORN, "-c", "gunicorn.conf.py", "--print-config", "wsgi:app"],
            cwd=PROJECT_ROOT,
            env={**environ, "GUNICORN_CONTROL_SOCKET": socket_path},
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        )
        lines = (line.split("=", 1) for line in result.stdout.splitlines() if "=" in line)
        config[socket_path] = {name.strip(): value.strip() for name, value in lines}
    assert config[""]["control_socket_disable"] == "True"
    assert config[str(path)]["control_socket_disable"] == "False"
    assert config[str(path)]["control_socket"] == str(path)
