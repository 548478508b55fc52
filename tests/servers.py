"""A real gunicorn for tests: on a free port, health-checked with a deadline, stopped by PID."""

from __future__ import annotations

import http.client
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager, suppress
from pathlib import Path

from app.settings import PROJECT_ROOT
from tests.pgbouncer import through_pgbouncer

START_DEADLINE = 60.0  # seconds; generous for a loaded CI machine
STOP_DEADLINE = 15.0


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Gunicorn:
    """One gunicorn master started by a test, and what the test needs to know about it."""

    def __init__(self, process: subprocess.Popen[bytes], port: int, workers: int, log: Path):
        self.process = process
        self.port = port
        self.workers = workers
        self.log = log

    @property
    def pid(self) -> int:
        return self.process.pid

    def url(self, path: str = "") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def connection(self, timeout: float = 10.0) -> http.client.HTTPConnection:
        """Open an HTTP connection to this server."""
        return http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)

    def log_tail(self, lines: int = 40) -> str:
        """Return the last lines gunicorn and the app wrote (for failure messages)."""
        text = self.log.read_text(errors="replace") if self.log.exists() else ""
        return "\n".join(text.splitlines()[-lines:])

    def worker_pids(self) -> list[int]:
        """Return the PIDs of this master's children (its workers)."""
        return [pid for pid in _pids() if _parent_of(pid) == self.pid]

    def threads(self, pid: int) -> int:
        """Return how many threads a process (a worker, say) runs now."""
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("Threads:"):
                return int(line.split()[1])
        return 0

    def unread_requests(self) -> tuple[int, int]:
        """Return (open connections, those with bytes the server has not read) on the port.

        Read from the kernel's socket table: a request that gunicorn accepted but left
        queued for a busy thread pool, or has not accepted yet, still has unread bytes.
        """
        opened = unread = 0
        for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
            fields = line.split()
            local_port = int(fields[1].rsplit(":", 1)[1], 16)
            if local_port == self.port and fields[3] == "01":  # ESTABLISHED, server side
                opened += 1
                unread += int(fields[4].split(":")[1], 16) > 0
        return opened, unread

    def stop(self) -> None:
        """SIGTERM the master (never anything else by name); SIGKILL it and its workers late."""
        if self.process.poll() is not None:
            return
        workers = self.worker_pids()
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=STOP_DEADLINE)
        except subprocess.TimeoutExpired:
            for pid in [self.pid, *workers]:
                _kill(pid)
            self.process.wait(timeout=STOP_DEADLINE)


def start_gunicorn(
    database_url: str,
    log: Path,
    workers: int = 2,
    threads: int | None = None,
    env: Mapping[str, str] | None = None,
) -> Gunicorn:
    """Start `gunicorn -c gunicorn.conf.py wsgi:app` on a free port; return once all workers serve.

    A port taken between choosing and binding it is retried on another port.
    """
    for _ in range(3):
        server = _spawn(database_url, log, workers, threads, env or {})
        try:
            _wait_ready(server)
            return server
        except _PortTaken:
            server.stop()
        except BaseException:
            server.stop()
            raise
    raise RuntimeError("gunicorn found no free port in three tries")


@contextmanager
def running_gunicorn(database_url: str, log: Path, **options: object) -> Iterator[Gunicorn]:
    """Run gunicorn for the block; always stop it by PID afterwards."""
    server = start_gunicorn(database_url, log, **options)  # type: ignore[arg-type]
    try:
        yield server
    finally:
        server.stop()


class _PortTaken(Exception):
    pass


def _spawn(
    database_url: str, log: Path, workers: int, threads: int | None, extra: Mapping[str, str]
) -> Gunicorn:
    port = free_port()
    # Nothing of the caller's gunicorn or metrics setup: each server gets its own.
    inherited = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("GUNICORN_") and k != "PROMETHEUS_MULTIPROC_DIR"
    }
    env = {
        **inherited,
        "DATABASE_URL": through_pgbouncer(database_url),  # unchanged unless TEST_PGBOUNCER
        "DATABASE_LISTEN_URL": database_url,
        "GUNICORN_BIND": f"127.0.0.1:{port}",
        "GUNICORN_WORKERS": str(workers),
        # Keep shutdown short when a failed test leaves long polls open.
        "GUNICORN_GRACEFUL_TIMEOUT": "3",
        "LOG_LEVEL": "warning",
        # TEST_WORKER_CLASS=gthread runs the gunicorn tests under the other worker class.
        "GUNICORN_WORKER_CLASS": os.environ.get("TEST_WORKER_CLASS", "gevent"),
        **extra,
    }
    if threads is not None:
        env["GUNICORN_THREADS"] = str(threads)
    # The control socket has one default path per user: parallel test servers would share it.
    command = [sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py", "--no-control-socket"]
    with log.open("ab") as out:
        process = subprocess.Popen(
            [*command, "wsgi:app"], cwd=PROJECT_ROOT, env=env, stdout=out, stderr=out
        )
    return Gunicorn(process, port, workers, log)


def _wait_ready(server: Gunicorn) -> None:
    """Wait until /healthz answers and every worker has registered the listening socket."""
    deadline = time.monotonic() + START_DEADLINE
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            tail = server.log_tail()
            if "Address already in use" in tail:
                raise _PortTaken()
            raise RuntimeError(f"gunicorn exited with {server.process.returncode}:\n{tail}")
        if _healthy(server) and _workers_accepting(server):
            return
        time.sleep(0.05)  # polling interval, not a wait for a condition
    raise TimeoutError(f"gunicorn not ready after {START_DEADLINE} s:\n{server.log_tail()}")


def _healthy(server: Gunicorn) -> bool:
    conn = server.connection(timeout=2)
    try:
        conn.request("GET", "/healthz")
        return conn.getresponse().status == 200
    except OSError:
        return False
    finally:
        conn.close()


def _workers_accepting(server: Gunicorn) -> bool:
    """Tell whether every worker is in its accept loop.

    A gthread worker registers its wake-up pipe and the listening socket with its
    epoll instance only after it has loaded the app, so two registered descriptors
    mean it accepts connections. Without /proc, /healthz alone has to do.
    """
    if not Path("/proc/self/fdinfo").is_dir():
        return True
    pids = server.worker_pids()
    return len(pids) == server.workers and all(_epoll_targets(pid) >= 2 for pid in pids)


def _epoll_targets(pid: int) -> int:
    most = 0
    try:
        for fd in Path(f"/proc/{pid}/fd").iterdir():
            if os.readlink(fd) == "anon_inode:[eventpoll]":
                info = Path(f"/proc/{pid}/fdinfo/{fd.name}").read_text()
                most = max(most, info.count("tfd:"))
    except OSError:  # the worker exited or closed the descriptor meanwhile
        return 0
    return most


def _pids() -> list[int]:
    return [int(entry.name) for entry in Path("/proc").iterdir() if entry.name.isdigit()]


def _parent_of(pid: int) -> int | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name may hold spaces or parentheses: fields follow the last ')'.
    return int(stat.rsplit(")", 1)[1].split()[1])


def _kill(pid: int) -> None:
    with suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)
