"""Debian's HAProxy, run by a test with deploy/haproxy.cfg in front of several gunicorns."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import pytest

from app.settings import PROJECT_ROOT
from tests.servers import free_port

DEPLOYED = PROJECT_ROOT / "deploy" / "haproxy.cfg"
HAPROXY = "/usr/sbin/haproxy"  # Debian's, when /usr/sbin is not on PATH
START_DEADLINE = 15.0
SERVERS = ("    server node1 127.0.0.1:8000 check", "    server node2 127.0.0.1:8001 check")


def installed() -> bool:
    return shutil.which("haproxy") is not None or Path(HAPROXY).is_file()


def require_haproxy() -> None:
    """Skip the calling test when HAProxy is missing; in CI (CI set) fail it instead."""
    if installed():
        return
    message = "haproxy is not installed (apt-get install haproxy)"
    if os.environ.get("CI", "").lower() not in ("", "0", "false"):
        pytest.fail(message)
    pytest.skip(message)


def config(port: int, upstream_ports: Sequence[int]) -> str:
    """Return deploy/haproxy.cfg bound to `port`, balancing over the gunicorns on these ports."""
    text = DEPLOYED.read_text()
    nodes = "".join(
        f"    server node{n} 127.0.0.1:{p} check\n" for n, p in enumerate(upstream_ports, 1)
    )
    for line, replacement in [
        ("    bind :80\n", f"    bind 127.0.0.1:{port}\n"),
        ("    maxconn 20000\n", "    maxconn 1000\n"),  # within a test machine's file limit
        ("".join(f"{server}\n" for server in SERVERS), nodes),
    ]:
        assert text.count(line) == 1, f"deploy/haproxy.cfg no longer has {line.strip()!r}"
        text = text.replace(line, replacement)
    return text


class HAProxy:
    """A running HAProxy (in the foreground, not a daemon) and its folder."""

    def __init__(self, process: subprocess.Popen[bytes], port: int, folder: Path):
        self.process, self.port, self.folder = process, port, folder

    def log_tail(self, lines: int = 20) -> str:
        log = self.folder / "haproxy.log"
        text = log.read_text(errors="replace") if log.exists() else ""
        return "\n".join(text.splitlines()[-lines:])

    def stop(self) -> None:
        """SIGUSR1 (soft stop: ends once its connections are done), then SIGKILL; by PID only."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGUSR1)
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


@contextmanager
def running_haproxy(upstream_ports: Sequence[int], folder: Path) -> Iterator[HAProxy]:
    """Run HAProxy with deploy/haproxy.cfg in front of these gunicorns for the block."""
    server = _start(upstream_ports, folder)
    try:
        yield server
    finally:
        server.stop()


def _start(upstream_ports: Sequence[int], folder: Path) -> HAProxy:
    binary = shutil.which("haproxy") or HAPROXY
    for _ in range(3):
        port = free_port()
        (folder / "haproxy.cfg").write_text(config(port, upstream_ports))
        # -db: stay in the foreground, so the PID is the one Popen knows.
        command = [binary, "-db", "-f", str(folder / "haproxy.cfg")]
        with (folder / "haproxy.log").open("ab") as out:
            process = subprocess.Popen(command, stdout=out, stderr=out)
        server = HAProxy(process, port, folder)
        if _wait_ready(server):
            return server
        server.stop()
    raise RuntimeError(f"haproxy did not start:\n{server.log_tail()}")


def _wait_ready(server: HAProxy) -> bool:
    """Poll until HAProxy accepts connections; False if it exited (e.g. port taken)."""
    deadline = time.monotonic() + START_DEADLINE
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            return False
        try:
            socket.create_connection(("127.0.0.1", server.port), timeout=1).close()
            return True
        except OSError:
            time.sleep(0.05)  # polling interval
    return False
