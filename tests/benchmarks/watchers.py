"""1,000 idle long-poll watchers on one configuration, a change fanned out to all of them
while GETs run: delivery latency, GET latency under watchers, and memory per idle watcher."""

from __future__ import annotations

import asyncio
import re
import time
from dataclasses import dataclass

from tests.benchmarks import servers
from tests.benchmarks.load import Load, Result, drive
from tests.servers import Gunicorn

PARK_DEADLINE = 30.0
DELIVERY_DEADLINE = 15.0
WAIT = 60  # the longest wait the contract allows: parking plus the GET run must fit in it
_WAITING = re.compile(rb"^watchers_waiting(?:\{[^}]*\})? ([0-9.e+]+)$", re.MULTILINE)


@dataclass
class Watched:
    path: str  # GET path of the watched configuration
    put_path: str
    put_body: bytes


async def _watch(port: int, request: bytes, opening: asyncio.Semaphore, arrived: list) -> None:
    """Hold one long poll; note when (and with which status, 0: failed) its answer arrives."""
    writer = None
    try:
        async with opening:  # open a hundred at a time, as clients starting up would
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(request)
            await writer.drain()
        status = int((await reader.readline()).split()[1])
        length = 0
        while (line := await reader.readline()) not in (b"\r\n", b""):
            if line.lower().startswith(b"content-length:"):
                length = int(line.split(b":")[1])
        await reader.readexactly(length)
        arrived.append((time.monotonic(), status))
    except (OSError, ValueError, IndexError, asyncio.IncompleteReadError):
        arrived.append((time.monotonic(), 0))
    finally:
        if writer is not None:
            writer.close()


def waiting(server: Gunicorn) -> float | None:
    """Return the watchers_waiting gauge (all workers) from /metrics; None if unanswered."""
    try:  # with every thread holding a watcher, /metrics waits in line too
        status, _, body = servers.request(server, "GET", "/metrics", {}, timeout=5)
    except OSError:
        return None
    return sum(float(x) for x in _WAITING.findall(body)) if status == 200 else None


async def run(
    server: Gunicorn, wrk: str | None, dsn: str, load: Load, watched: Watched,
    auth: dict[str, str], count: int, seconds: float,
) -> tuple[Result, dict]:  # fmt: skip
    """Park `count` watchers, run GETs, change the watched configuration halfway through."""
    workers = server.worker_pids()
    rss_before = servers.rss_bytes(workers)
    lines = "".join(f"{k}: {v}\r\n" for k, v in auth.items())
    lines += f'If-None-Match: "1"\r\nPrefer: wait={WAIT}\r\n'
    request = f"GET {watched.path} HTTP/1.1\r\nHost: 127.0.0.1\r\n{lines}\r\n".encode()
    arrived: list[tuple[float, int]] = []
    opening = asyncio.Semaphore(100)
    watchers = [
        asyncio.ensure_future(_watch(server.port, request, opening, arrived)) for _ in range(count)
    ]
    deadline = time.monotonic() + PARK_DEADLINE
    parked: float | None = 0.0
    while time.monotonic() < deadline and (parked is None or parked < count):
        await asyncio.sleep(0.5)
        parked = await asyncio.to_thread(waiting, server)
    rss_parked = servers.rss_bytes(workers)
    seconds = min(seconds, WAIT - PARK_DEADLINE - 5)
    getting = asyncio.ensure_future(
        asyncio.to_thread(drive, "watch", wrk, server, dsn, load, seconds)
    )
    await asyncio.sleep(seconds / 2)
    headers = {**auth, "Content-Type": "application/json", "If-Match": '"1"'}
    changed = time.monotonic()
    status, _, _ = await asyncio.to_thread(
        servers.request, server, "PUT", watched.put_path, headers, watched.put_body
    )
    put_ms = (time.monotonic() - changed) * 1000
    await asyncio.wait(watchers, timeout=DELIVERY_DEADLINE)
    for task in watchers:
        task.cancel()
    result = await getting
    delivered = sorted((at - changed) * 1000 for at, code in arrived if code == 200)
    return result, {
        "watchers": count, "parked": -1 if parked is None else parked,
        "put_status": status, "put_ms": put_ms,
        "delivered": len(delivered), "other_answers": len(arrived) - len(delivered),
        "delivery_p50_ms": _quantile(delivered, 0.5), "delivery_p99_ms": _quantile(delivered, 0.99),
        "delivery_max_ms": delivered[-1] if delivered else None,
        "rss_per_watcher_kib": (rss_parked - rss_before) / count / 1024,
        "rss_before_mib": rss_before / 2**20, "rss_parked_mib": rss_parked / 2**20,
    }  # fmt: skip


def _quantile(values: list[float], q: float) -> float | None:
    return values[min(len(values) - 1, int(q * len(values)))] if values else None
