"""A private PostgreSQL cluster for fault tests: initdb on a spare port, stopped and started.

The machine's own server is never touched: the cluster lives in a temporary folder,
listens on 127.0.0.1:<spare port> only, and is run by a non-root user (PostgreSQL
refuses root): `postgres` (or the embedded package's user) through `runuser`.
"""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import psycopg2
from psycopg2 import sql
from psycopg2.extensions import make_dsn

from app.settings import PROJECT_ROOT
from tests.servers import free_port

# Fast and throwaway, but a crash of the server processes (pg_ctl stop -m immediate) must
# not lose a commit: fsync=off leaves committed WAL in the kernel's page cache, whereas
# synchronous_commit=off would acknowledge commits still in PostgreSQL's shared memory.
SETTINGS = """
listen_addresses = '127.0.0.1'
port = {port}
unix_socket_directories = '{sockets}'
fsync = off
full_page_writes = off
synchronous_commit = on
max_connections = 100
shared_buffers = 32MB
logging_collector = off
log_min_messages = warning
"""
START_TIMEOUT = 30


def bin_dir() -> Path:
    """Return a folder holding initdb and pg_ctl: $PG_BINDIR, Debian's newest, or the embedded."""
    candidates = [os.environ.get("PG_BINDIR", "")]
    candidates += sorted(
        (str(p) for p in Path("/usr/lib/postgresql").glob("*/bin")),
        key=lambda p: int(Path(p).parent.name) if Path(p).parent.name.isdigit() else 0,
        reverse=True,
    )
    candidates += [str(p) for p in PROJECT_ROOT.glob(".venv/lib/*/site-packages/*/pginstall/bin")]
    for folder in filter(None, candidates):
        if (Path(folder) / "initdb").is_file() and (Path(folder) / "pg_ctl").is_file():
            return Path(folder)
    raise RuntimeError(
        "no PostgreSQL server binaries: apt-get install postgresql, or set PG_BINDIR"
    )


def _run_as() -> str | None:
    """Return the user to run the server as when we are root (PostgreSQL refuses root)."""
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "embedded_postgres"):
        try:
            pwd.getpwnam(name)
            return name
        except KeyError:
            continue
    raise RuntimeError("running as root and no `postgres` user to run PostgreSQL as")


class PgCluster:
    """One private cluster: `start()`, `stop(mode)`, `destroy()`, and DSNs for its databases."""

    def __init__(self, root: Path, port: int, user: str | None):
        self.root, self.port, self.user = root, port, user
        self.data = root / "data"
        self.logfile = root / "server.log"
        self.bin = bin_dir()

    @classmethod
    def create(cls) -> PgCluster:
        """Run initdb (trust auth, superuser `postgres`) into a new folder under /tmp."""
        user = _run_as()
        root = Path(tempfile.mkdtemp(prefix="cs-pgcluster-", dir="/tmp"))
        if user:
            entry = pwd.getpwnam(user)
            os.chown(root, entry.pw_uid, entry.pw_gid)
        os.chmod(root, 0o700)
        cluster = cls(root, free_port(), user)
        cluster._pg("initdb", "-D", str(cluster.data), "-U", "postgres", "-A", "trust",
                    "-E", "UTF8", "--locale=C", "--no-sync")  # fmt: skip
        cluster._write_settings()
        return cluster

    def dsn(self, dbname: str = "postgres") -> str:
        return make_dsn(host="127.0.0.1", port=self.port, user="postgres", dbname=dbname)

    def start(self) -> None:
        """Start the server and wait until it accepts connections (a taken port moves it)."""
        for _ in range(3):
            result = self._pg("pg_ctl", "-D", str(self.data), "-l", str(self.logfile),
                              "-w", "-t", str(START_TIMEOUT), "start", check=False)  # fmt: skip
            if result.returncode == 0:
                return
            if "could not bind" not in self.log_tail():
                raise RuntimeError(f"pg_ctl start failed:\n{result.stdout}\n{self.log_tail()}")
            self.port = free_port()
            self._write_settings()
        raise RuntimeError("the private cluster found no free port in three tries")

    def stop(self, mode: str = "fast") -> None:
        """Stop the server: `fast` ends sessions cleanly, `immediate` is a crash."""
        self._pg("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "stop", check=False)

    def running(self) -> bool:
        result = self._pg("pg_ctl", "-D", str(self.data), "status", check=False)
        return result.returncode == 0

    def destroy(self) -> None:
        """Stop the server (as a crash: nothing to keep) and delete its folder."""
        if self.data.exists() and self.running():
            self.stop("immediate")
        shutil.rmtree(self.root, ignore_errors=True)

    def create_database(self, name: str) -> str:
        """Create a database and return its DSN."""
        conn = psycopg2.connect(self.dsn(), connect_timeout=5)
        conn.autocommit = True
        try:
            with conn.cursor() as cur:
                cur.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        finally:
            conn.close()
        return self.dsn(name)

    def wait_until_accepting(self, timeout: float = 10.0) -> None:
        """Poll until a connection succeeds (after start, recovery may still be running)."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                psycopg2.connect(self.dsn(), connect_timeout=2).close()
                return
            except psycopg2.OperationalError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)

    def log_tail(self, lines: int = 20) -> str:
        text = self.logfile.read_text(errors="replace") if self.logfile.exists() else ""
        return "\n".join(text.splitlines()[-lines:])

    def _write_settings(self) -> None:
        conf = self.data / "postgresql.auto.conf"  # read last: wins over postgresql.conf
        text = SETTINGS.format(port=self.port, sockets=self.root)
        conf.write_text(text)
        self._own(conf)

    def _own(self, path: Path) -> None:
        if self.user:
            entry = pwd.getpwnam(self.user)
            os.chown(path, entry.pw_uid, entry.pw_gid)

    def _pg(self, program: str, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        command = [str(self.bin / program), *args]
        if self.user:
            command = ["runuser", "-u", self.user, "--", *command]
        result = subprocess.run(
            command, cwd=self.root, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )
        if check and result.returncode != 0:
            raise RuntimeError(f"{program} failed ({result.returncode}):\n{result.stdout}")
        return result
