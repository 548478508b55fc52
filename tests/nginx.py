"""Debian's nginx, run by a test with deploy/nginx.conf in front of a test gunicorn."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from app.settings import PROJECT_ROOT
from tests.servers import free_port

DEPLOYED = PROJECT_ROOT / "deploy" / "nginx.conf"
NGINX = "/usr/sbin/nginx"  # Debian's, when /usr/sbin is not on PATH
START_DEADLINE = 15.0
# The main file around deploy/nginx.conf: every path nginx writes is in the test's folder.
MAIN = """\
{user}
worker_processes 1;
error_log {folder}/error.log info;
events {{ worker_connections 1024; }}
http {{
    access_log {folder}/access.log;
    client_body_temp_path {folder}/client_body;
    proxy_temp_path {folder}/proxy;
    fastcgi_temp_path {folder}/fastcgi;
    uwsgi_temp_path {folder}/uwsgi;
    scgi_temp_path {folder}/scgi;
    include {folder}/config-service.conf;
}}
"""


def installed() -> bool:
    return shutil.which("nginx") is not None or Path(NGINX).is_file()


def require_nginx() -> None:
    """Skip the calling test when nginx is missing; in CI (CI set) fail it instead."""
    if installed():
        return
    message = "nginx is not installed (apt-get install nginx)"
    if os.environ.get("CI", "").lower() not in ("", "0", "false"):
        pytest.fail(message)
    pytest.skip(message)


def site_config(port: int, upstream_port: int) -> str:
    """Return deploy/nginx.conf listening on `port`, passing to gunicorn on `upstream_port`."""
    text = DEPLOYED.read_text()
    for line, replacement in [
        ("    listen 80;", f"    listen 127.0.0.1:{port};"),
        ("    server 127.0.0.1:8000;", f"    server 127.0.0.1:{upstream_port};"),
    ]:
        assert text.count(line) == 1, f"deploy/nginx.conf no longer has {line.strip()!r}"
        text = text.replace(line, replacement)
    return text


class Nginx:
    """A running nginx master (not a daemon) and its folder."""

    def __init__(self, process: subprocess.Popen[bytes], port: int, folder: Path):
        self.process, self.port, self.folder = process, port, folder

    def log_tail(self, lines: int = 20) -> str:
        log = self.folder / "error.log"
        text = log.read_text(errors="replace") if log.exists() else ""
        return "\n".join(text.splitlines()[-lines:])

    def stop(self) -> None:
        """SIGQUIT (graceful), then SIGKILL if it lingers; by PID only."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGQUIT)
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.process.kill()  # its worker exits when the master's pipe closes
                self.process.wait()


@contextmanager
def running_nginx(upstream_port: int, folder: Path) -> Iterator[Nginx]:
    """Run nginx with deploy/nginx.conf in front of 127.0.0.1:upstream_port for the block."""
    server = _start(upstream_port, folder)
    try:
        yield server
    finally:
        server.stop()


def _start(upstream_port: int, folder: Path) -> Nginx:
    binary = shutil.which("nginx") or NGINX
    # As root, nginx's workers would switch to `nobody`, who cannot write in tmp_path.
    user = "user root;" if os.geteuid() == 0 else ""
    (folder / "nginx.conf").write_text(MAIN.format(user=user, folder=folder))
    for _ in range(3):
        port = free_port()
        (folder / "config-service.conf").write_text(site_config(port, upstream_port))
        global_directives = f"daemon off; pid {folder}/nginx.pid;"
        command = [binary, "-p", f"{folder}/", "-e", f"{folder}/error.log"]
        command += ["-c", f"{folder}/nginx.conf", "-g", global_directives]
        process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        server = Nginx(process, port, folder)
        if _wait_ready(server):
            return server
        server.stop()
    raise RuntimeError(f"nginx did not start:\n{server.log_tail()}")


def _wait_ready(server: Nginx) -> bool:
    """Poll until nginx accepts connections; False if it exited (e.g. port taken)."""
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
