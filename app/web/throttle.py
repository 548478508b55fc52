"""Keep unknown tokens cheap: one database probe a second per worker, and 429 for an
address that keeps presenting them; the address behind trusted proxies."""

from __future__ import annotations

import ipaddress
import math
import threading
import time
from collections import deque
from collections.abc import Iterable

from flask import Request

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
FAILURES_ALLOWED = 20  # 401s an address may earn per window (AUTH_FAILURES_ALLOWED)
FAILURE_WINDOW_SECONDS = 10.0
ADDRESSES_KEPT = 10_000  # bounds the memory a flood from many addresses can take
PROBE_EVERY_SECONDS = 1.0


class Probe:
    """Allows one database probe for an unlisted token per second (per worker)."""

    def __init__(self) -> None:
        self._last = -PROBE_EVERY_SECONDS

    def allow(self) -> bool:
        now = time.monotonic()
        if now - self._last < PROBE_EVERY_SECONDS:
            return False
        self._last = now  # two threads may both pass at a second's turn: still bounded
        return True


class Failures:
    """The recent 401s of each client address, to slow down one that keeps earning them."""

    def __init__(self, allowed: int = FAILURES_ALLOWED) -> None:
        self.allowed = allowed  # 401s an address may earn per window before it gets 429s
        self._times: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def failed(self, address: str) -> None:
        """Note a refused token from this address."""
        with self._lock:
            self._note(address)

    def _note(self, address: str) -> None:
        times = self._times.pop(address, None)  # re-inserted: the dict keeps recent last
        if times is None:
            times = deque(maxlen=self.allowed + 1)
            if len(self._times) >= ADDRESSES_KEPT:
                self._times.pop(next(iter(self._times)), None)
        times.append(time.monotonic())
        self._times[address] = times

    def retry_after(self, address: str) -> int | None:
        """Return the seconds until this address may fail again, or None if it may now."""
        times = self._times.get(address)
        if times is None or len(times) <= self.allowed:
            return None
        left = times[0] + FAILURE_WINDOW_SECONDS - time.monotonic()
        return math.ceil(left) if left > 0 else None


def client_address(req: Request, trusted: Iterable[Network]) -> str:
    """Return the client's address: the peer, or, when the peer is a trusted proxy, the
    rightmost X-Forwarded-For hop that is not (hops left of it are the client's to forge)."""
    trusted = tuple(trusted)
    peer = req.remote_addr or ""
    if not is_trusted(peer, trusted):
        return peer
    fields = req.headers.getlist("X-Forwarded-For")
    hops = [hop.strip() for field in fields for hop in field.split(",")]
    for hop in reversed(hops):
        if hop and not is_trusted(hop, trusted):
            return hop
    return peer  # every hop is a trusted proxy: the request began among them


def is_trusted(address: str, trusted: tuple[Network, ...]) -> bool:
    """Tell whether an address (text) lies in one of the trusted proxies' networks."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in network for network in trusted)
