"""HTTP over http.client: keep-alive connections, timeouts, and a close that unblocks a read."""

from __future__ import annotations

import contextlib
import http.client
import socket
import threading
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from time import time
from urllib.parse import urlsplit

from config_service_client.errors import Unreachable

USER_AGENT = "config-service-client/0.1.0"
STALE = (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError)


@dataclass(frozen=True)
class Response:
    """One answer: status, headers (lower-case names) and body."""

    status: int
    headers: dict[str, str]
    body: bytes

    def retry_after(self) -> float | None:
        """Return Retry-After in seconds (delta or HTTP date), or None."""
        value = self.headers.get("retry-after", "").strip()
        if not value:
            return None
        if value.isdigit():
            return float(value)
        try:
            return max(0.0, parsedate_to_datetime(value).timestamp() - time())
        except (TypeError, ValueError):
            return None


class Endpoint:
    """Where the service is, and how to open a connection to it."""

    def __init__(self, url: str, token: str | None, connect_timeout: float):
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"not an http(s) URL: {url!r}")
        self.https = parts.scheme == "https"
        self.host, self.port = parts.hostname, parts.port
        self.base = parts.path.rstrip("/")
        self.token = token
        self.connect_timeout = connect_timeout

    def open(self) -> Connection:
        """Return a new connection (it connects on first use)."""
        return Connection(self)

    def _http(self) -> http.client.HTTPConnection:
        kind = http.client.HTTPSConnection if self.https else http.client.HTTPConnection
        return kind(self.host, self.port, timeout=self.connect_timeout)


class Connection:
    """One keep-alive connection, used by one thread at a time; close() works from any."""

    def __init__(self, endpoint: Endpoint):
        self.endpoint = endpoint
        self._conn: http.client.HTTPConnection | None = None
        self._lock = threading.Lock()
        self._closed = False
        self._busy = False  # a request is in flight: only its thread may drop the socket

    def request(
        self, method: str, path: str, timeout: float, headers: dict[str, str] | None = None,
        body: bytes | None = None,
    ) -> Response:  # fmt: skip
        """Send a request and read the whole answer; raise Unreachable when there is none."""
        sent = {"Authorization": f"Bearer {self.endpoint.token}"} if self.endpoint.token else {}
        sent.update({"Accept": "application/json", "User-Agent": USER_AGENT, **(headers or {})})
        url = self.endpoint.base + path
        for attempt in (1, 2):
            reused = self._conn is not None and self._conn.sock is not None
            try:
                return self._once(method, url, timeout, sent, body)
            except (AttributeError, ValueError) as exc:  # the socket went away under us
                self._drop()
                raise self._unreachable(exc) from exc
            except STALE as exc:  # the server closed an idle keep-alive connection
                self._drop()
                if self._closed or not reused or attempt == 2:
                    raise self._unreachable(exc) from exc
            except (OSError, http.client.HTTPException) as exc:
                self._drop()
                raise self._unreachable(exc) from exc
        raise AssertionError("unreachable")  # pragma: no cover

    def _once(
        self, method: str, url: str, timeout: float, headers: dict[str, str], body: bytes | None
    ) -> Response:
        with self._lock:
            if self._closed:
                raise ConnectionAbortedError("connection closed by stop()")
            if self._conn is None:
                self._conn = self.endpoint._http()
            conn, self._busy = self._conn, True
        try:
            if conn.sock is None:
                conn.connect()  # under the connect timeout
            conn.sock.settimeout(timeout)  # then the read timeout
            conn.request(method, url, body=body, headers=headers)
            answer = conn.getresponse()
            data = answer.read()
        finally:
            with self._lock:
                self._busy = False
        names = {name.lower(): value for name, value in answer.getheaders()}
        return Response(answer.status, names, data)

    def _unreachable(self, exc: BaseException) -> Unreachable:
        where = f"{self.endpoint.host}:{self.endpoint.port or (443 if self.endpoint.https else 80)}"
        reason = "stopped" if self._closed else (str(exc) or type(exc).__name__)
        return Unreachable(f"no answer from {where}: {reason}")

    def _drop(self) -> None:
        with self._lock:
            conn, self._conn = self._conn, None
        if conn is not None:
            conn.close()

    def close(self) -> None:
        """Close for good; a read blocked in another thread returns at once."""
        with self._lock:
            self._closed = True
            conn, busy = self._conn, self._busy
        sock = conn.sock if conn is not None else None
        if sock is not None:
            with contextlib.suppress(OSError):  # not connected any more
                sock.shutdown(socket.SHUT_RDWR)
        if not busy:
            self._drop()
