"""Cooperative mode (gunicorn's gevent worker): psycopg2 yields, watchers hold no thread.

gevent's monkey-patching is for good, so what must run patched runs in a fresh interpreter.
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import subprocess
import sys
import textwrap
import time
from typing import Any

import pytest

from app.settings import PROJECT_ROOT
from tests.servers import Gunicorn, running_gunicorn

API = "/api/v1/configurations"
WATCHERS = 300


def run_patched(code: str, **env: str) -> str:
    """Run `code` in a new interpreter after gevent.monkey.patch_all(); return its stdout."""
    script = "from gevent import monkey\nmonkey.patch_all()\n" + textwrap.dedent(code)
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=PROJECT_ROOT, env={**os.environ, **env},
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_psycopg2_lets_other_greenlets_run_while_it_waits(database_url: str) -> None:
    out = run_patched(
        """
        import os, time, gevent, psycopg2
        from app.green import make_psycopg2_cooperative
        make_psycopg2_cooperative()
        def sleep():
            conn = psycopg2.connect(os.environ["DSN"])
            conn.cursor().execute("SELECT pg_sleep(0.5)")
            conn.close()
        began = time.monotonic()
        gevent.joinall([gevent.spawn(sleep) for _ in range(4)], raise_error=True)
        print(time.monotonic() - began)
        """,
        DSN=database_url,
    )
    assert float(out) < 1.5  # four half-second queries side by side, not one after another


def test_connect_timeout_holds_in_cooperative_mode() -> None:
    """libpq ignores connect_timeout in the asynchronous mode gevent needs: ours enforces it."""
    with socket.socket() as silent:  # accepts connections (the kernel does), never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        out = run_patched(
            """
            import os, time, psycopg2
            from app.green import make_psycopg2_cooperative
            make_psycopg2_cooperative()
            began = time.monotonic()
            try:
                psycopg2.connect(os.environ["DSN"], connect_timeout=1)
            except psycopg2.OperationalError as exc:
                print(time.monotonic() - began, exc)
            """,
            DSN=f"postgresql://nobody@127.0.0.1:{silent.getsockname()[1]}/none",
        )
    seconds, message = out.split(" ", 1)
    assert 0.9 < float(seconds) < 3, out
    assert "timeout" in message


def test_metrics_tallies_keep_one_book_per_os_thread_not_per_greenlet() -> None:
    out = run_patched(
        """
        import gevent
        from prometheus_client import CollectorRegistry, Counter, Histogram
        from app.web.metrics import _Tallies
        registry = CollectorRegistry()
        counter = Counter("c", "c", ["x"], registry=registry)
        tallies = _Tallies()
        gevent.joinall([gevent.spawn(tallies.count, counter, "a") for _ in range(1000)])
        tallies.flush(Histogram("h", "h", ["m", "r"], registry=registry))
        print(len(tallies._by_thread), registry.get_sample_value("c_total", {"x": "a"}))
        """
    )
    assert out.split() == ["1", "1000.0"]


def test_off_the_loop_keeps_other_greenlets_running_and_returns_or_raises() -> None:
    out = run_patched(
        """
        import time, gevent
        from app.green import off_the_loop
        ticks = []
        def tick():
            while True:
                ticks.append(1)
                gevent.sleep(0.01)
        def spin(seconds):
            end = time.thread_time() + seconds
            while time.thread_time() < end:
                pass
            return "done"
        def fail():
            raise KeyboardInterrupt  # a BaseException, as budget.OverBudget is
        ticker = gevent.spawn(tick)
        gevent.sleep(0)
        print(off_the_loop(spin, 0.5), len(ticks) > 5)
        try:
            off_the_loop(fail)
        except KeyboardInterrupt:
            print("raised")
        ticker.kill()
        """
    )
    assert out.split() == ["done", "True", "raised"]


async def _watch(port: int, request: bytes) -> int:
    """Hold one long poll; return its status (0: no answer)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(request)
        line = await reader.readline()
        return int(line.split()[1]) if line else 0
    finally:
        writer.close()


async def _park_and_change(server: Gunicorn, configuration: dict[str, Any]) -> dict[str, Any]:
    path = f"{API}/{configuration['id']}"
    request = (
        f'GET {path} HTTP/1.1\r\nHost: x\r\nIf-None-Match: "1"\r\nPrefer: wait=30\r\n\r\n'
    ).encode()
    watchers = [asyncio.ensure_future(_watch(server.port, request)) for _ in range(WATCHERS)]
    deadline = time.monotonic() + 20
    while _waiting(server) < WATCHERS and time.monotonic() < deadline:
        await asyncio.sleep(0.2)
    figures = {"parked": _waiting(server), "threads": server.threads(server.worker_pids()[0])}
    began = time.monotonic()
    figures["healthz"] = _call(server, "GET", "/healthz")[0]
    figures["healthz_s"] = time.monotonic() - began
    body = {"config": {"n": 1}}
    figures["patch"] = _call(server, "PATCH", path, body, {"If-Match": '"1"'})[0]
    figures["statuses"] = await asyncio.wait_for(asyncio.gather(*watchers), 20)
    return figures


def _call(server: Gunicorn, method: str, path: str, body: Any = None, headers: Any = None):
    conn = server.connection()
    try:
        data = None if body is None else json.dumps(body)
        conn.request(method, path, data, {"Content-Type": "application/json", **(headers or {})})
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


def _waiting(server: Gunicorn) -> float:
    status, text = _call(server, "GET", "/metrics")
    lines = [line for line in text.decode().splitlines() if line.startswith("watchers_waiting")]
    return sum(float(line.split()[-1]) for line in lines) if status == 200 else -1


@pytest.mark.parametrize("worker_class", ["gevent", "gthread"])
def test_one_worker_holds_watchers_serves_others_and_wakes_them_all(
    database_url: str, tmp_path: Any, worker_class: str
) -> None:
    env = {"AUTH_ENABLED": "false", "GUNICORN_WORKER_CLASS": worker_class}
    threads = WATCHERS + 16 if worker_class == "gthread" else None
    log = tmp_path / "gunicorn.log"
    with running_gunicorn(database_url, log, workers=1, threads=threads, env=env) as server:
        application = json.loads(_call(server, "POST", "/api/v1/applications", {"name": "b"})[1])
        body = {"application_id": application["id"], "name": "db", "config": {"n": 0}}
        configuration = json.loads(_call(server, "POST", API, body)[1])
        figures = asyncio.run(_park_and_change(server, configuration))
        assert f"Using worker: {worker_class}" in log.read_text()

    assert figures["parked"] == WATCHERS, figures
    assert figures["healthz"] == 200 and figures["healthz_s"] < 1.0, figures
    assert figures["patch"] == 200, figures
    assert figures["statuses"] == [200] * WATCHERS, figures
    if worker_class == "gevent":  # a waiting request is a greenlet, not a thread
        assert figures["threads"] < 10, figures
