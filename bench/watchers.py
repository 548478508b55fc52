"""Idle long polls parked on one node, a change fanned out to all of them while GETs run:
delivery latency, GET latency under watchers, and memory per idle watcher.

The watchers are held by a few client processes (`python -m bench.watchers`, each an
asyncio loop): one loop answering 10,000 arrivals at once would itself add the delay it is
measuring. Each notes when the status line of each answer arrives (CLOCK_MONOTONIC, the
same in every process) and prints the arrivals once all have come or the parent says stop.
"""

from __future__ import annotations

import asyncio
import json
import re
import resource
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass

from bench import servers
from bench.load import Load, Result, drive
from tests.servers import Gunicorn

DELIVERY_DEADLINE = 15.0
WAIT = 60  # the longest wait the service allows: parking plus the GET run must fit in it
PER_PROCESS = 2500  # watchers per client process
OPENING = 100  # connections a client process opens at a time, as clients starting up would
_WAITING = re.compile(rb"^watchers_waiting(?:\{[^}]*\})? ([0-9.e+]+)$", re.MULTILINE)


@dataclass
class Watched:
    request: bytes  # the long poll every watcher sends
    change: Callable[[], int]  # makes the change they wait for; returns its status


def long_poll(path: str, auth: dict[str, str], etag: str) -> bytes:
    """Return a GET long poll of `path` for a client that holds `etag`."""
    lines = "".join(f"{k}: {v}\r\n" for k, v in auth.items())
    lines += f"If-None-Match: {etag}\r\nPrefer: wait={WAIT}\r\n"
    return f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n{lines}\r\n".encode()


def watch_many(entries: list[dict], auth: dict[str, str]) -> bytes:
    """Return a POST /api/v1/watch of these entries ({"id", "etag"})."""
    body = json.dumps({"watch": entries}).encode()
    lines = "".join(f"{k}: {v}\r\n" for k, v in auth.items())
    lines += f"Prefer: wait={WAIT}\r\nContent-Type: application/json\r\n"
    lines += f"Content-Length: {len(body)}\r\n"
    head = f"POST /api/v1/watch HTTP/1.1\r\nHost: 127.0.0.1\r\n{lines}\r\n"
    return head.encode() + body


def park_deadline(count: int) -> float:
    """Return how long parking may take: 30 s, more for over 6,000 watchers."""
    return max(30.0, count / 200)


def waiting(server: Gunicorn) -> float | None:
    """Return the watchers_waiting gauge (all workers) from /metrics; None if unanswered."""
    try:  # with every thread holding a watcher (gthread), /metrics waits in line too
        status, _, body = servers.request(server, "GET", "/metrics", {}, timeout=5)
    except OSError:
        return None
    return sum(float(x) for x in _WAITING.findall(body)) if status == 200 else None


class Parked:
    """Client processes holding `count` copies of one long-poll request."""

    def __init__(self, port: int, request: bytes, count: int):
        self.port, self.request, self.count = port, request, count
        self.children: list[asyncio.subprocess.Process] = []

    async def start(self) -> None:
        for first in range(0, self.count, PER_PROCESS):
            n = min(PER_PROCESS, self.count - first)
            child = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "bench.watchers", str(self.port), str(n),
                stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
            )  # fmt: skip
            assert child.stdin is not None
            child.stdin.write(self.request.hex().encode() + b"\n")
            await child.stdin.drain()
            self.children.append(child)

    async def until(self, deadline: float) -> list[tuple[float, int]]:
        """Let the children wait up to `deadline` (monotonic) for their answers; return them."""
        for child in self.children:
            assert child.stdin is not None
            child.stdin.write(f"{deadline}\n".encode())
            await child.stdin.drain()
        outs = await asyncio.gather(*(child.communicate() for child in self.children))
        return [(at, status) for out, _ in outs for at, status in json.loads(out)]


async def park(server: Gunicorn, request: bytes, count: int) -> tuple[Parked, float | None]:
    """Open `count` long polls; return once /metrics counts them all waiting (or in time)."""
    parked_ones = Parked(server.port, request, count)
    await parked_ones.start()
    deadline = time.monotonic() + park_deadline(count)
    parked: float | None = 0.0
    while time.monotonic() < deadline and (parked is None or parked < count):
        await asyncio.sleep(0.5)
        parked = await asyncio.to_thread(waiting, server)
    return parked_ones, parked


async def run(
    server: Gunicorn, wrk: str | None, dsn: str, load: Load, watched: Watched, count: int,
    seconds: float,
) -> tuple[Result, dict]:  # fmt: skip
    """Park `count` watchers, run GETs, make the change halfway through."""
    workers = server.worker_pids()
    rss_before = servers.rss_bytes(workers)
    began = time.monotonic()
    parked_ones, parked = await park(server, watched.request, count)
    park_s = time.monotonic() - began
    rss_parked = servers.rss_bytes(workers)
    seconds = min(seconds, WAIT - park_s - 5)
    getting = asyncio.ensure_future(
        asyncio.to_thread(drive, "watch", wrk, server, dsn, load, seconds)
    )
    await asyncio.sleep(seconds / 2)
    changed = time.monotonic()
    status = await asyncio.to_thread(watched.change)
    put_ms = (time.monotonic() - changed) * 1000
    arrived = await parked_ones.until(changed + DELIVERY_DEADLINE)
    result = await getting
    return result, {
        "watchers": count, "parked": -1 if parked is None else parked, "park_s": park_s,
        "put_status": status, "put_ms": put_ms,
        **delivery(arrived, changed),
        "rss_per_watcher_kib": (rss_parked - rss_before) / count / 1024,
        "rss_before_mib": rss_before / 2**20, "rss_parked_mib": rss_parked / 2**20,
    }  # fmt: skip


def delivery(arrived: list[tuple[float, int]], changed: float) -> dict:
    """Return how many answers were 200 and their delays after the change (ms)."""
    delivered = sorted((at - changed) * 1000 for at, code in arrived if code == 200)
    return {
        "delivered": len(delivered), "other_answers": len(arrived) - len(delivered),
        "delivery_p50_ms": quantile(delivered, 0.5), "delivery_p99_ms": quantile(delivered, 0.99),
        "delivery_max_ms": delivered[-1] if delivered else None,
    }  # fmt: skip


def quantile(values: list[float], q: float) -> float | None:
    return values[min(len(values) - 1, int(q * len(values)))] if values else None


async def _hold(port: int, request: bytes, opening: asyncio.Semaphore, arrived: list) -> None:
    """Hold one long poll; note when its status line arrives (status 0: failed)."""
    writer = None
    try:
        async with opening:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(request)
            await writer.drain()
        line = await reader.readline()
        arrived.append((time.monotonic(), int(line.split()[1])))
    except (OSError, ValueError, IndexError):
        arrived.append((time.monotonic(), 0))
    finally:
        if writer is not None:
            writer.close()


async def _child(port: int, count: int) -> None:
    loop = asyncio.get_running_loop()
    request = bytes.fromhex(sys.stdin.readline().strip())
    arrived: list[tuple[float, int]] = []
    opening = asyncio.Semaphore(OPENING)
    tasks = [asyncio.ensure_future(_hold(port, request, opening, arrived)) for _ in range(count)]
    deadline = float(await loop.run_in_executor(None, sys.stdin.readline))
    await asyncio.wait(tasks, timeout=max(deadline - time.monotonic(), 0))
    print(json.dumps(arrived))
    sys.stdout.flush()


if __name__ == "__main__":
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))  # one descriptor per watcher
    asyncio.run(_child(int(sys.argv[1]), int(sys.argv[2])))
