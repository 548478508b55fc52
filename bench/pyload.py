"""The load generator when wrk cannot be had: asyncio keep-alive connections, same files.

python -m bench.pyload --script read|put -c N -d SECONDS [-H 'K: V'] URL TARGETS
prints the same `WRK {...}` line as the Lua scripts' done(). One process, one core: the
benchmark reports its CPU, so a saturated generator shows in the table.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import time
from urllib.parse import urlsplit

TAIL = (
    ', "service": "svc", "database": {"host": "db1.internal", "port": 5432, "pool": '
    '{"min": 2, "max": 20}}, "features": ["search", "export"], "blob": "'
    + "0123456789abcdef" * 48
    + '"}}'
)


class Stats:
    def __init__(self) -> None:
        self.latencies: list[float] = []
        self.errors = {"connect": 0, "read": 0, "write": 0, "status": 0, "timeout": 0}


async def exchange(reader, writer, head: bytes, body: bytes) -> tuple[int, dict[str, str]]:
    """Send one request and read its answer; return the status and headers."""
    writer.write(head + body)
    await writer.drain()
    status_line = await reader.readline()
    headers = {}
    while (line := await reader.readline()) not in (b"\r\n", b""):
        key, _, value = line.decode("latin-1").partition(":")
        headers[key.strip().lower()] = value.strip()
    await reader.readexactly(int(headers.get("content-length", "0")))
    return int(status_line.split()[1]), headers


async def connection(args, number: int, lines: list[str], stats: Stats, stop: float) -> None:
    """Keep one connection busy until `stop`, as read.lua or put.lua would."""
    url = urlsplit(args.url)
    try:
        reader, writer = await asyncio.open_connection(url.hostname, url.port)
    except OSError:
        stats.errors["connect"] += 1
        return
    extra = "".join(f"{h}\r\n" for h in args.header)
    etag, rev = '"1"', 0
    if args.script == "put":
        target, name, version = lines[number % len(lines)].split()
        etag = f'"{version}"'
    while time.monotonic() < stop:
        if args.script == "put":
            rev += 1
            body = f'{{"name": "{name}", "comments": "bench", "config": {{"rev": {rev}{TAIL}'
            body_bytes = body.encode()
            head = f"PUT /api/v1/configurations/{target} HTTP/1.1\r\nIf-Match: {etag}\r\n"
            head += f"Content-Type: application/json\r\nContent-Length: {len(body_bytes)}\r\n"
        else:
            body_bytes, head = b"", f"GET {random.choice(lines)} HTTP/1.1\r\n"
        head += f"Host: {url.netloc}\r\n{extra}\r\n"
        sent = time.monotonic()
        try:
            status, headers = await exchange(reader, writer, head.encode(), body_bytes)
        except (OSError, asyncio.IncompleteReadError, ValueError, IndexError):
            stats.errors["read"] += 1
            return
        stats.latencies.append(time.monotonic() - sent)
        stats.errors["status"] += status > 399
        etag = headers.get("etag", etag)
    writer.close()


async def main(args) -> None:
    with open(args.targets) as file:
        lines = [x for x in file.read().splitlines() if x]
    stats, started = Stats(), time.monotonic()
    stop = started + args.duration
    tasks = [connection(args, n, lines, stats, stop) for n in range(args.connections)]
    await asyncio.gather(*tasks)
    took = sorted(stats.latencies) or [0.0]

    def us(q: float) -> int:
        return int(took[min(len(took) - 1, int(q * len(took)))] * 1e6)

    figures = {"requests": len(stats.latencies), "duration_us": int(args.duration * 1e6)}
    figures |= stats.errors | {"p50_us": us(0.5), "p90_us": us(0.9), "p99_us": us(0.99)}
    print("WRK " + json.dumps(figures | {"max_us": int(took[-1] * 1e6)}), flush=True)


def parse() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--script", choices=("read", "put"), default="read")
    parser.add_argument("-c", "--connections", type=int, default=32)
    parser.add_argument("-d", "--duration", type=float, default=10.0)
    parser.add_argument("-H", "--header", action="append", default=[])
    parser.add_argument("url")
    parser.add_argument("targets")
    return parser.parse_args()


if __name__ == "__main__":
    asyncio.run(main(parse()))
