"""PgBouncer in transaction pooling mode in front of the test server (TEST_PGBOUNCER=1).

`TEST_PGBOUNCER=1 make test` runs the suite with the service's DATABASE_URL pointing at
a PgBouncer started here, on a spare port, while DATABASE_LISTEN_URL, migrations and the
tests' own checking connections go direct to PostgreSQL (conftest.py's `service_url`).
"""

from __future__ import annotations

import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg2
import pytest
from psycopg2.extensions import make_dsn, parse_dsn

# `*` forwards every database name (each session makes its own) to the test server.
# auth_type=trust still wants each user in auth_file; the test server trusts them anyway.
CONFIG = """\
[databases]
* = host={host} port={port}

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = {listen_port}
unix_socket_dir =
auth_type = trust
auth_file = {folder}/userlist.txt
pool_mode = transaction
max_client_conn = 2000
default_pool_size = {pool_size}
; how long a client waits for a server connection (default 120 s) before an error
query_wait_timeout = {query_wait_timeout}
server_login_retry = 1
logfile = {folder}/pgbouncer.log
pidfile = {folder}/pgbouncer.pid
log_connections = 0
log_disconnections = 0
"""
START_DEADLINE = 15.0
PGBOUNCER = "/usr/sbin/pgbouncer"  # Debian's, when /usr/sbin is not on PATH


class PgBouncer:
    """A running PgBouncer: its port and how to reach a database through it."""

    def __init__(self, process: subprocess.Popen[bytes], port: int, upstream: str, folder: Path):
        self.process, self.port, self.upstream, self.folder = process, port, upstream, folder

    def url(self, dsn: str) -> str:
        """Return `dsn` (a database on the upstream server) reached through this PgBouncer."""
        return make_dsn(dsn, host="127.0.0.1", port=self.port)

    def fronts(self, dsn: str) -> bool:
        """Tell whether `dsn` names a database on the server this PgBouncer forwards to."""
        return _address(dsn) == _address(self.upstream)

    def log_tail(self, lines: int = 20) -> str:
        log = self.folder / "pgbouncer.log"
        text = log.read_text(errors="replace") if log.exists() else ""
        return "\n".join(text.splitlines()[-lines:])

    def stop(self) -> None:
        """SIGINT (PgBouncer's "safe shutdown"), then SIGKILL if it lingers; by PID only."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        shutil.rmtree(self.folder, ignore_errors=True)


_active: PgBouncer | None = None


def through_pgbouncer(dsn: str) -> str:
    """Return the DSN the service should use for `dsn`: through PgBouncer when one fronts it."""
    if _active is not None and _active.fronts(dsn):
        return _active.url(dsn)
    return dsn


@contextmanager
def running_pgbouncer(
    upstream: str, pool_size: int = 40, query_wait_timeout: int = 20
) -> Iterator[PgBouncer]:
    """Run a PgBouncer (`pool_size` server connections per database) in front of the server
    of `upstream` for the block; stop it by PID afterwards."""
    bouncer = _start(upstream, {"pool_size": pool_size, "query_wait_timeout": query_wait_timeout})
    try:
        yield bouncer
    finally:
        bouncer.stop()


@contextmanager
def routing_through(bouncer: PgBouncer) -> Iterator[None]:
    """Make `through_pgbouncer` (and so every test gunicorn) use this PgBouncer for the block."""
    global _active
    previous, _active = _active, bouncer
    try:
        yield
    finally:
        _active = previous


def installed() -> bool:
    return shutil.which("pgbouncer") is not None or Path(PGBOUNCER).is_file()


def require_pgbouncer() -> None:
    """Skip the calling test when pgbouncer is missing; in CI (CI set) fail it instead."""
    if installed():
        return
    message = "pgbouncer is not installed (apt-get install pgbouncer)"
    if os.environ.get("CI", "").lower() not in ("", "0", "false"):
        pytest.fail(message)
    pytest.skip(message)


def _start(upstream: str, settings: dict[str, int]) -> PgBouncer:
    if not installed():
        raise RuntimeError("pgbouncer is missing: apt-get install pgbouncer")
    binary = shutil.which("pgbouncer") or PGBOUNCER
    user = _run_as(upstream)
    folder = Path(tempfile.mkdtemp(prefix="cs-pgbouncer-", dir="/tmp"))
    host, port = _address(upstream)
    users = {parse_dsn(upstream).get("user") or "postgres", "postgres"}
    (folder / "userlist.txt").write_text("".join(f'"{name}" ""\n' for name in sorted(users)))
    for _ in range(3):
        listen_port = _free_port()
        config = CONFIG.format(
            host=host, port=port, listen_port=listen_port, folder=folder, **settings
        )
        (folder / "pgbouncer.ini").write_text(config)
        if user is not None:
            for path in [folder, *folder.iterdir()]:
                os.chown(path, user.pw_uid, user.pw_gid)
        process = _spawn(binary, folder / "pgbouncer.ini", user)
        bouncer = PgBouncer(process, listen_port, upstream, folder)
        if _wait_ready(bouncer):
            return bouncer
        bouncer.process.kill()
        bouncer.process.wait()
    tail = bouncer.log_tail()
    shutil.rmtree(folder, ignore_errors=True)
    raise RuntimeError(f"pgbouncer did not start:\n{tail}")


def _spawn(binary: str, config: Path, user: pwd.struct_passwd | None) -> subprocess.Popen[bytes]:
    # PgBouncer refuses to run as root; drop to `user` (and no extra groups).
    identity = {"user": user.pw_uid, "group": user.pw_gid, "extra_groups": []} if user else {}
    return subprocess.Popen(  # type: ignore[call-overload]
        [binary, "-q", str(config)],
        cwd=config.parent,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        **identity,
    )


def _wait_ready(bouncer: PgBouncer) -> bool:
    """Poll until a query goes through PgBouncer; False if it exited (e.g. port taken)."""
    deadline = time.monotonic() + START_DEADLINE
    probe = bouncer.url(bouncer.upstream)
    while time.monotonic() < deadline:
        if bouncer.process.poll() is not None:
            return False
        try:
            psycopg2.connect(probe, connect_timeout=2).close()
            return True
        except psycopg2.OperationalError:
            time.sleep(0.05)  # polling interval
    return False


def _free_port() -> int:
    # not tests.servers.free_port: servers.py imports this module
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _run_as(upstream: str) -> pwd.struct_passwd | None:
    if os.geteuid() != 0:
        return None
    host = _address(upstream)[0]
    if host.startswith("/"):  # a unix socket (the embedded server's): only its owner gets in
        return pwd.getpwuid(os.stat(host).st_uid)
    try:
        return pwd.getpwnam("postgres")
    except KeyError:
        raise RuntimeError("running as root and no `postgres` user to run pgbouncer as") from None


def _address(dsn: str) -> tuple[str, int]:
    params = parse_dsn(dsn)
    host = params.get("host") or "127.0.0.1"
    return ("127.0.0.1" if host == "localhost" else host), int(params.get("port") or 5432)
