"""Drive one case with wrk (or the Python fallback) and measure what the server spent on it."""

from __future__ import annotations

import json
import os
import resource
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from bench import servers
from tests.servers import Gunicorn

HERE = Path(__file__).resolve().parent
WRK_TIMEOUT = "10s"  # a slower answer is a timeout error, and then has no latency in wrk


@dataclass
class Load:
    """What to send: a Lua script (read or put), its targets file, headers, connections."""

    script: str
    targets: Path
    headers: dict[str, str]
    connections: int
    threads: int
    rate: int = 0  # requests per second in all (0: as fast as the server answers)


@dataclass
class Result:
    case: str
    requests: int
    seconds: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    max_ms: float
    errors: int
    app_cpu_ms: float  # gunicorn master + workers, per request
    db_cpu_ms: float  # PostgreSQL sessions on the benchmark database, per request
    loader_cpu: float  # the load generator's CPU, in cores (wrk -t 2 can use 2)
    ratio: float | None = None
    extra: dict = field(default_factory=dict)

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0


def find_wrk() -> str | None:
    """Return wrk's path, installing Debian's package when missing and possible (root, apt)."""
    found = shutil.which("wrk")
    if found or os.geteuid() != 0 or not shutil.which("apt-get"):
        return found
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for refresh in (False, True):  # the package lists may be missing or stale: update once
        if refresh:
            subprocess.run(["apt-get", "update", "-q"], env=env, capture_output=True, timeout=300)
        install = ["apt-get", "install", "-y", "-q", "wrk"]
        subprocess.run(install, env=env, capture_output=True, timeout=300, check=False)
        if shutil.which("wrk"):
            break
    return shutil.which("wrk")


def command(wrk: str | None, url: str, load: Load, seconds: float) -> list[str]:
    """Return the load generator's command line: wrk, or python -m bench.pyload."""
    headers = [arg for key, value in load.headers.items() for arg in ("-H", f"{key}: {value}")]
    if wrk is None:
        base = [sys.executable, "-m", "bench.pyload", "--script", load.script]
        return [*base, "-c", str(load.connections), "-d", str(seconds), *headers,
                url, str(load.targets)]  # fmt: skip
    script, pace = load.script, []
    if load.rate:  # paced.lua waits this long before each request of a connection
        script, pace = "paced", [f"{load.connections * 1000 / load.rate:.0f}"]
    return [
        wrk, "-t", str(load.threads), "-c", str(load.connections), "-d", f"{seconds:g}s",
        "--timeout", WRK_TIMEOUT, "-s", str(HERE / f"{script}.lua"), *headers,
        url, "--", str(load.targets), *pace,
    ]  # fmt: skip


def drive(
    case: str, wrk: str | None, server: Gunicorn, dsn: str | None, load: Load, seconds: float
) -> Result:
    """Run the load for `seconds` against the server; return figures and CPU per request."""
    pids = servers.server_pids(server)
    backends = servers.backend_pids(dsn) if dsn else []
    app_before, db_before = servers.cpu_seconds(pids), servers.cpu_seconds(backends)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.monotonic()
    out = subprocess.run(
        command(wrk, server.url(), load, seconds), capture_output=True, text=True,
        timeout=seconds + 60, check=False,
    )  # fmt: skip
    wall = time.monotonic() - started
    done = resource.getrusage(resource.RUSAGE_CHILDREN)
    loader = (done.ru_utime + done.ru_stime - children.ru_utime - children.ru_stime) / wall
    after = servers.backend_pids(dsn) if dsn else []
    opened = len(set(after) - set(backends))  # the pool reconnecting would show here
    app = servers.cpu_delta(app_before, servers.cpu_seconds(servers.server_pids(server)))
    db = servers.cpu_delta(db_before, servers.cpu_seconds(after))
    line = next((x for x in out.stdout.splitlines() if x.startswith("WRK ")), None)
    if line is None:
        raise RuntimeError(f"{case}: no result from the load generator:\n{out.stdout}{out.stderr}")
    figures = json.loads(line[4:])
    count = max(figures["requests"], 1)
    errors = sum(figures[k] for k in ("connect", "read", "write", "status", "timeout"))
    return Result(
        case, figures["requests"], figures["duration_us"] / 1e6,
        figures["p50_us"] / 1000, figures["p90_us"] / 1000, figures["p99_us"] / 1000,
        figures["max_us"] / 1000, errors, app * 1000 / count, db * 1000 / count, loader,
        extra={"sessions_opened": opened},
    )  # fmt: skip
