"""Several nodes: how fast a write on one node reaches watchers on another, and what each
listening session costs a write. `python -m bench.nodes` (TEST_DATABASE_URL: a server where
it may create and drop a throwaway database; HAProxy installed).

Two gunicorn masters on one database behind deploy/haproxy.cfg; watchers parked directly on
node 2 and through the balancer; writes through node 1, one at a time; the latency of each
watcher's answer is counted from the moment its write was sent.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import select
import statistics
import tempfile
import threading
import time
import uuid
from contextlib import ExitStack, closing
from pathlib import Path
from typing import Any

import psycopg2
from psycopg2 import sql
from psycopg2.extensions import make_dsn

from app import migrations
from tests.haproxy import running_haproxy
from tests.helpers import MIGRATIONS_DIR, server_dsn
from tests.servers import running_gunicorn

API = "/api/v1/configurations"
# A write as the service makes one: its triggers record the version and send the NOTIFY.
BUMP = "UPDATE configurations SET config = %(config)s, version = version + 1 WHERE id = %(id)s"


async def call(port: int, method: str, path: str, headers: dict[str, str], body: Any = None):
    """Send one request (Connection: close); return (status, headers, body, finished)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    data = b"" if body is None else json.dumps(body).encode()
    lines = [f"{method} {path} HTTP/1.1", "Host: 127.0.0.1", "Connection: close"]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    if data:
        lines += ["Content-Type: application/json", f"Content-Length: {len(data)}"]
    writer.write(("\r\n".join(lines) + "\r\n\r\n").encode() + data)
    raw = await reader.read()
    finished = time.monotonic()
    writer.close()
    head, _, payload = raw.partition(b"\r\n\r\n")
    return int(head.split()[1]), head.decode("latin-1"), payload, finished


async def watched_write(ports: dict[str, int], writer: int, cid: str, version: int, n: int):
    """Park n watchers on each of `ports`, write once through `writer`; return latencies."""
    headers = {"If-None-Match": f'"{version}"', "Prefer": "wait=30"}
    tasks = {
        where: [asyncio.create_task(call(port, "GET", f"{API}/{cid}", headers)) for _ in range(n)]
        for where, port in ports.items()
    }
    await asyncio.sleep(2.0 + n / 500)  # every watcher parked (no write is pending meanwhile)
    sent = time.monotonic()
    status, *_ = await call(writer, "PATCH", f"{API}/{cid}", {}, {"config": {"n": version}})
    assert status == 200, status
    latencies = {}
    for where, started in tasks.items():
        answers = await asyncio.gather(*started)
        assert all(answer[0] == 200 for answer in answers), [a[0] for a in answers]
        latencies[where] = [answer[3] - sent for answer in answers]
    return latencies


def figures(values: list[float]) -> str:
    ordered = sorted(values)
    p99 = ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))]
    return (
        f"{len(values)} answers: p50 {statistics.median(values) * 1000:.0f} ms,"
        f" p99 {p99 * 1000:.0f} ms, max {ordered[-1] * 1000:.0f} ms"
    )


def delivery(dsn: str, watchers: int, writes: int, workers: int) -> None:
    folder = Path(tempfile.mkdtemp(prefix="bench-nodes-"))
    env = {"AUTH_ENABLED": "false", "LOG_LEVEL": "info", "DB_POOL_MAX": "4"}
    with ExitStack() as stack:
        nodes = [
            stack.enter_context(
                running_gunicorn(dsn, folder / f"node{n}.log", workers=workers, env=env)
            )
            for n in (1, 2)
        ]
        proxy = stack.enter_context(running_haproxy([node.port for node in nodes], folder))
        results: dict[str, list[float]] = {"node 2": [], "balancer": []}

        async def run() -> None:
            status, _, body, _ = await call(
                nodes[0].port, "POST", "/api/v1/applications", {}, {"name": "bench"}
            )
            assert status == 201, body
            new = {"application_id": json.loads(body)["id"], "name": "db", "config": {}}
            _, _, body, _ = await call(nodes[0].port, "POST", API, {}, new)
            cid = json.loads(body)["id"]
            ports = {"node 2": nodes[1].port, "balancer": proxy.port}
            for version in range(1, writes + 1):
                got = await watched_write(ports, nodes[0].port, cid, version, watchers // 2)
                for where, values in got.items():
                    results[where] += values

        asyncio.run(run())
    print(f"2 nodes x {workers} workers, {watchers} watchers, {writes} writes through node 1")
    for where, values in results.items():
        print(f"  watchers on {where}: {figures(values)}")


def notify_cost(dsn: str, listeners: list[int], writes: int) -> None:
    """Time an UPDATE whose trigger sends NOTIFY, with k sessions listening (and reading)."""
    with closing(psycopg2.connect(dsn)) as conn:
        conn.autocommit = True
        with conn.cursor() as cur:
            cid = "01JD0000000000000000000001"
            cur.execute("INSERT INTO applications (id, name) VALUES (%s, 'cost')", (cid,))
            cur.execute(
                "INSERT INTO configurations (id, application_id, name, config)"
                " VALUES (%s, %s, 'c', '{}')",
                (cid, cid),
            )
        for k in listeners:
            sessions = [psycopg2.connect(dsn) for _ in range(k)]
            stop = threading.Event()
            for session in sessions:
                session.autocommit = True
                session.cursor().execute("LISTEN configuration_changed")
            reader = threading.Thread(target=_drain, args=(sessions, stop))
            reader.start()
            took = []
            with conn.cursor() as cur:
                for n in range(writes):
                    started = time.perf_counter()
                    cur.execute(BUMP, {"config": json.dumps({"n": n}), "id": cid})
                    took.append(time.perf_counter() - started)
            stop.set()
            reader.join()
            for session in sessions:
                session.close()
            p50, mean = statistics.median(took) * 1000, statistics.mean(took) * 1000
            print(
                f"  {k:3d} listening sessions: UPDATE + NOTIFY p50 {p50:.2f} ms, mean {mean:.2f} ms"
            )


def _drain(sessions: list[Any], stop: threading.Event) -> None:
    while not stop.is_set():
        readable, _, _ = select.select(sessions, [], [], 0.1) if sessions else ([], [], [])
        if not sessions:
            stop.wait(0.1)
        for session in readable:
            session.poll()
            session.notifies.clear()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--watchers", type=int, default=1000)
    parser.add_argument("--writes", type=int, default=10)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--listeners", default="0,10,40")
    args = parser.parse_args()
    admin = server_dsn()
    name = f"bench_nodes_{uuid.uuid4().hex[:8]}"
    with closing(psycopg2.connect(admin)) as conn:
        conn.autocommit = True
        conn.cursor().execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    dsn = make_dsn(admin, dbname=name)
    try:
        migrations.migrate(dsn, MIGRATIONS_DIR)
        delivery(dsn, args.watchers, args.writes, args.workers)
        print(f"cost of listening sessions to a write ({args.writes * 20} writes each):")
        notify_cost(dsn, [int(k) for k in args.listeners.split(",")], args.writes * 20)
    finally:
        with closing(psycopg2.connect(admin)) as conn:
            conn.autocommit = True
            query = sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)")
            conn.cursor().execute(query.format(sql.Identifier(name)))


if __name__ == "__main__":
    main()
