"""Measure the client's watch: PUT-to-exec latency over N changes, then RSS/CPU while idle.

Run from the repository root with the dev virtualenv (it starts its own gunicorn on
127.0.0.1 and a throwaway database on TEST_DATABASE_URL, and removes both at the end):

    .venv/bin/python client/scripts/measure.py [--changes 100] [--idle 60]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))  # the server's code and test helpers start the service

import psycopg2  # noqa: E402
from psycopg2 import sql  # noqa: E402
from psycopg2.extensions import make_dsn  # noqa: E402

from app import migrations  # noqa: E402
from app.web.tokens import create_token  # noqa: E402
from tests.client.conftest import Api  # noqa: E402
from tests.servers import running_gunicorn  # noqa: E402


def main() -> None:
    """Start a service, watch one configuration, change it, then let the watcher idle."""
    options = _options()
    admin = options.database_url
    name = f"cs_client_measure_{uuid.uuid4().hex[:8]}"
    _execute(admin, sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    database = make_dsn(admin, dbname=name)
    try:
        migrations.migrate(database, ROOT / "migrations")
        with tempfile.TemporaryDirectory() as folder:
            _measure(database, Path(folder), options)
    finally:
        query = sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        _execute(admin, query)


def _measure(database: str, folder: Path, options: argparse.Namespace) -> None:
    reader, writer = (_token(database, role) for role in ("reader", "writer"))
    env = {"AUTH_ENABLED": "true", "LOG_LEVEL": "warning"}
    with running_gunicorn(database, folder / "gunicorn.log", workers=2, env=env) as server:
        api = Api(server.port, writer)
        made = api.seed(config={"n": 0})
        runs, out = folder / "runs.log", folder / "out.json"
        command = [sys.executable, "-m", "config_service_client", "watch", "billing", "database",
                   "--output", str(out), "--exec", f"date +%s.%N >> {runs}",
                   "--url", server.url(), "--token", reader]  # fmt: skip
        watcher = subprocess.Popen(command, stderr=subprocess.DEVNULL)
        try:
            _wait(lambda: _lines(runs) == 1, 30)
            time.sleep(0.5)
            latencies = _latencies(api, made["id"], runs, options.changes)
            rss_before, cpu_before = _usage(watcher.pid)
            time.sleep(options.idle)
            rss_after, cpu_after = _usage(watcher.pid)
        finally:
            watcher.terminate()
            watcher.wait(10)
    cpu = cpu_after - cpu_before
    print(json.dumps({
        "changes": options.changes,
        "put_to_exec_ms": {"p50": _q(latencies, 0.5), "p99": _q(latencies, 0.99),
                           "max": round(max(latencies), 1)},
        "idle_seconds": options.idle,
        "rss_kib": {"before_idle": rss_before, "after_idle": rss_after},
        "cpu_seconds_idle": round(cpu, 3),
        "cpu_percent_of_one_core": round(100 * cpu / options.idle, 3),
    }, indent=2))  # fmt: skip


def _latencies(api: Api, configuration_id: str, runs: Path, changes: int) -> list[float]:
    """PUT a new config, wait for the --exec command's timestamp; return milliseconds."""
    found = []
    for n in range(1, changes + 1):
        before = _lines(runs)
        sent = time.time()
        status, body = api.call("PUT", f"/api/v1/configurations/{configuration_id}",
                                {"name": "database", "config": {"n": n}})  # fmt: skip
        assert status == 200, body
        _wait(lambda before=before: _lines(runs) > before, 10)
        found.append((float(runs.read_text().splitlines()[-1]) - sent) * 1000)
        time.sleep(0.05)  # one change at a time: each is its own delivery
    return found


def _usage(pid: int) -> tuple[int, float]:
    """Return (RSS in KiB, user + system CPU seconds) of a process."""
    status = Path(f"/proc/{pid}/status").read_text()
    rss = next(int(line.split()[1]) for line in status.splitlines() if line.startswith("VmRSS"))
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    return rss, (int(fields[11]) + int(fields[12])) / ticks


def _token(database: str, role: str) -> str:
    conn = psycopg2.connect(database)
    try:
        with conn:
            return create_token(conn, f"measure-{role}", role, "measure")
    finally:
        conn.close()


def _execute(dsn: str, query: sql.Composed) -> None:
    conn = psycopg2.connect(dsn)
    conn.autocommit = True
    try:
        with conn.cursor() as cur:
            cur.execute(query)
    finally:
        conn.close()


def _lines(path: Path) -> int:
    return len(path.read_text().splitlines()) if path.exists() else 0


def _wait(check, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise TimeoutError("the watcher did not run the command in time")
        time.sleep(0.001)


def _q(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))], 1)


def _options() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--changes", type=int, default=100)
    parser.add_argument("--idle", type=float, default=60.0, help="seconds")
    parser.add_argument("--database-url", default=os.environ.get("TEST_DATABASE_URL"),
                        help="a superuser DSN (default: $TEST_DATABASE_URL)")  # fmt: skip
    options = parser.parse_args()
    if not options.database_url:
        parser.error("set TEST_DATABASE_URL or pass --database-url")
    return options


if __name__ == "__main__":
    main()
