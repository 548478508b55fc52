"""A bounded slowloris: connections that send a request's header one line a second."""

from __future__ import annotations

import http.client
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress


@contextmanager
def slowloris(port: int, connections: int = 40, seconds: float = 8.0) -> Iterator[None]:
    """Keep `connections` sending one header line a second to 127.0.0.1:port for the block
    (at most `seconds`), never finishing the header; close them all afterwards."""
    stop = threading.Event()
    socks = []
    for _ in range(connections):
        sock = socket.create_connection(("127.0.0.1", port), timeout=5)
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n")  # the first bytes
        socks.append(sock)

    def drip() -> None:
        deadline = time.monotonic() + seconds
        line = 0
        while not stop.wait(1.0) and time.monotonic() < deadline:
            line += 1
            for sock in socks:
                with suppress(OSError):  # the server may have closed it: that is the point
                    sock.sendall(b"X-Slow-%d: %d\r\n" % (line, line))

    dripper = threading.Thread(target=drip, daemon=True)
    dripper.start()
    try:
        yield
    finally:
        stop.set()
        dripper.join()
        for sock in socks:
            sock.close()


def healthz_ms(port: int, timeout: float = 10.0) -> float:
    """Return how long GET /healthz takes on a new connection, in milliseconds."""
    started = time.perf_counter()
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request("GET", "/healthz", headers={"Connection": "close"})
        response = conn.getresponse()
        response.read()
        assert response.status == 200, response.status
    finally:
        conn.close()
    return (time.perf_counter() - started) * 1000


def worst_healthz_ms(port: int, seconds: float, timeout: float = 10.0) -> float:
    """Poll /healthz for `seconds`; return the slowest answer (a timeout counts as its length)."""
    worst, deadline = 0.0, time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            worst = max(worst, healthz_ms(port, timeout))
        except OSError:
            worst = max(worst, timeout * 1000)
        time.sleep(0.2)
    return worst
