"""gunicorn under test, started as production starts it, and its processes' CPU and memory."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg2

from app.settings import PROJECT_ROOT
from tests.servers import Gunicorn, free_port

TICK = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")
START_DEADLINE = 60.0


@dataclass
class Options:
    workers: int | None  # None: gunicorn.conf.py's default (2 x cores + 1)
    threads: int | None  # None: gunicorn.conf.py's default
    worker_class: str | None  # None: gunicorn.conf.py's (gevent)
    log_level: str
    auth: bool


def start(module: str, dsn: str, options: Options, log: Path) -> Gunicorn:
    """Run `gunicorn -c gunicorn.conf.py MODULE` on a free port; return once every worker serves."""
    port = free_port()
    keep = {k: v for k, v in os.environ.items() if not k.startswith(("GUNICORN_", "PROMETHEUS_"))}
    env = {
        **keep,
        "DATABASE_URL": dsn,
        "DATABASE_LISTEN_URL": dsn,
        "GUNICORN_BIND": f"127.0.0.1:{port}",
        "LOG_LEVEL": options.log_level,
        "AUTH_ENABLED": "true" if options.auth else "false",
    }
    if options.workers:
        env["GUNICORN_WORKERS"] = str(options.workers)
    if options.threads:
        env["GUNICORN_THREADS"] = str(options.threads)
    # --no-control-socket: two masters run at once here and would share its default path.
    command = [sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py", "--no-control-socket"]
    if options.worker_class:
        command += ["--worker-class", options.worker_class]
    with log.open("ab") as out:
        process = subprocess.Popen(
            [*command, module], cwd=PROJECT_ROOT, env=env, stdout=out, stderr=out
        )
    workers = options.workers or (os.cpu_count() or 1) * 2 + 1
    server = Gunicorn(process, port, workers, log)
    _wait_ready(server)
    return server


def _wait_ready(server: Gunicorn) -> None:
    deadline = time.monotonic() + START_DEADLINE
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise RuntimeError(f"gunicorn exited:\n{server.log_tail()}")
        if len(server.worker_pids()) == server.workers and _status(server, "/healthz") == 200:
            return
        time.sleep(0.1)  # polling interval
    server.stop()
    raise TimeoutError(f"gunicorn not ready after {START_DEADLINE} s:\n{server.log_tail()}")


def _status(server: Gunicorn, path: str, headers: dict[str, str] | None = None) -> int:
    conn = server.connection(timeout=5)
    try:
        conn.request("GET", path, headers=headers or {})
        return conn.getresponse().status
    except OSError:
        return 0
    finally:
        conn.close()


def request(
    server: Gunicorn, method: str, path: str, headers: dict, body: bytes | None = None,
    timeout: float = 30,
) -> tuple[int, dict[str, str], bytes]:  # fmt: skip
    """Send one request; return (status, headers, body)."""
    with closing(server.connection(timeout=timeout)) as conn:
        conn.request(method, path, body=body, headers=headers)
        answer = conn.getresponse()
        return answer.status, dict(answer.getheaders()), answer.read()


def cpu_seconds(pids: list[int]) -> dict[int, float]:
    """Return each process's user + system CPU seconds so far (all its threads)."""
    used = {}
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:  # gone, or not ours to read
            continue
        used[pid] = (int(fields[11]) + int(fields[12])) / TICK  # utime, stime
    return used


def cpu_delta(before: dict[int, float], after: dict[int, float]) -> float:
    """Return the CPU seconds used between two snapshots (a new process counts whole)."""
    return sum(seconds - before.get(pid, 0.0) for pid, seconds in after.items())


def rss_bytes(pids: list[int]) -> int:
    """Return the processes' resident set sizes, added up."""
    total = 0
    for pid in pids:
        try:
            total += int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * PAGE
        except OSError:
            continue
    return total


def server_pids(server: Gunicorn) -> list[int]:
    """Return the master's and the workers' PIDs."""
    return [server.pid, *server.worker_pids()]


_monitors: dict[str, Any] = {}


def monitor(dsn: str) -> Any:
    """Return the benchmark's own connection, opened once: a shared server may fill up later."""
    conn = _monitors.get(dsn)
    if conn is None or conn.closed:
        conn = _monitors[dsn] = psycopg2.connect(dsn)
        conn.autocommit = True
    return conn


def backend_pids(dsn: str) -> list[int]:
    """Return the PIDs of PostgreSQL's sessions on the benchmark database (ours excluded)."""
    with monitor(dsn).cursor() as cur:
        cur.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database()"
            " AND pid <> pg_backend_pid()"
        )
        return [row[0] for row in cur.fetchall()]
