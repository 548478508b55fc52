"""The client: read configurations with ETag revalidation, fall back to kept copies."""

from __future__ import annotations

import json
import logging
import os
import threading
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from config_service_client.backoff import human_age
from config_service_client.errors import (
    ConfigServiceError,
    ServerError,
    UnexpectedResponse,
    Unreachable,
    error_for,
)
from config_service_client.kept import KeptCopies
from config_service_client.result import Result
from config_service_client.target import Target, as_target
from config_service_client.transport import Connection, Endpoint, Response

if TYPE_CHECKING:
    from config_service_client.watch import Change, Watcher

log = logging.getLogger("config_service_client")
WAIT_MARGIN = 10.0  # seconds a long poll may take beyond its wait before it counts as hung


class Client:
    """A thread-safe client for one Config Service; settings default from CONFIG_SERVICE_*."""

    def __init__(
        self,
        url: str | None = None,
        token: str | None = None,
        cache_dir: str | Path | None = None,
        timeout: float = 10.0,
        connect_timeout: float = 5.0,
    ):
        url = url or os.environ.get("CONFIG_SERVICE_URL")
        if not url:
            raise ValueError("no URL: pass url= or set CONFIG_SERVICE_URL")
        token = token if token is not None else os.environ.get("CONFIG_SERVICE_TOKEN")
        cache_dir = cache_dir or os.environ.get("CONFIG_SERVICE_CACHE_DIR") or None
        self.endpoint = Endpoint(url, token, min(connect_timeout, timeout))
        self.timeout = timeout
        self.kept = KeptCopies(cache_dir) if cache_dir else None
        self._memory: dict[Target, Result] = {}
        self._idle: list[Connection] = []
        self._lock = threading.Lock()

    def get(self, application: str, name: str, environment: str | None = None) -> Result:
        """Read a configuration by application and name (resolved for `environment`)."""
        return self.read(Target(application=application, name=name, environment=environment))

    def get_by_id(self, id: str, environment: str | None = None) -> Result:
        """Read a configuration by id (resolved for `environment`)."""
        return self.read(Target(id=id, environment=environment))

    def read(self, target: Target, connection: Connection | None = None) -> Result:
        """Read a target, revalidating what memory holds; a kept copy if the server fails."""
        with self._lock:
            held = self._memory.get(target)
        try:
            fresh = self.poll(target, held.etag if held else None, connection=connection)
        except (Unreachable, ServerError) as exc:
            return self.kept_copy(target, exc)
        return fresh if fresh is not None else held  # type: ignore[return-value]

    def watch(
        self, targets: Iterable[Target | tuple[str, ...]],
        on_change: Callable[[Change], None] | None = None, wait: int = 55,
    ) -> Watcher:  # fmt: skip
        """Return a Watcher of these targets: call run() with on_change, or iterate over it."""
        from config_service_client.watch import Watcher  # it imports this module

        return Watcher(self, [as_target(t) for t in targets], on_change, wait)

    def poll(
        self, target: Target, etag: str | None, wait: int | None = None,
        connection: Connection | None = None,
    ) -> Result | None:  # fmt: skip
        """GET with If-None-Match (and a long-poll wait); return None when not modified."""
        headers = {"If-None-Match": etag} if etag else {}
        if wait and etag:
            headers["Prefer"] = f"wait={wait}"
        timeout = self.timeout + (wait + WAIT_MARGIN if wait else 0)
        answer = self.send("GET", target.path(), timeout, headers, None, connection)
        if answer.status == 304:
            return None
        if answer.status != 200:
            raise error_for(answer.status, answer.body, answer.retry_after(), target.label())
        return self.accept(target, answer.headers.get("etag"), _json(answer, target))

    def send(
        self, method: str, path: str, timeout: float, headers: dict[str, str],
        body: bytes | None = None, connection: Connection | None = None,
    ) -> Response:  # fmt: skip
        """Send on the given connection, or on a pooled keep-alive one."""
        if connection is not None:
            return connection.request(method, path, timeout, headers, body)
        with self._lock:
            conn = self._idle.pop() if self._idle else self.endpoint.open()
        answer = conn.request(method, path, timeout, headers, body)
        with self._lock:
            self._idle.append(conn)  # only after a whole answer: it is reusable
        return answer

    def accept(self, target: Target, etag: str | None, configuration: Any) -> Result:
        """Take a fresh representation: remember it, keep a copy on disk, return it."""
        if not isinstance(configuration, dict) or "config" not in configuration:
            raise UnexpectedResponse(f"{target.label()}: the answer is not a configuration")
        result = Result(target, configuration, etag or f'"{configuration.get("version")}"')
        with self._lock:
            self._memory[target] = result
        if self.kept is not None:
            self.kept.save(target, result.etag, configuration)
        return result

    def kept_copy(self, target: Target, error: ConfigServiceError) -> Result:
        """Return the kept copy in place of a failed read, or raise `error` if there is none."""
        record = self.kept.load(target) if self.kept is not None else None
        if record is None:
            raise error
        result = Result(target, record["configuration"], record["etag"], True,
                        record["fetched_at"], error)  # fmt: skip
        log.warning(
            "using the kept copy of %s (version %s, fetched %s ago): %s",
            target.label(), result.version, human_age(result.age), error,
        )  # fmt: skip
        return result

    def close(self) -> None:
        """Close the pooled connections."""
        with self._lock:
            idle, self._idle = self._idle, []
        for conn in idle:
            conn.close()


def _json(answer: Response, target: Target) -> Any:
    try:
        return json.loads(answer.body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise UnexpectedResponse(f"{target.label()}: the answer is not JSON") from exc
