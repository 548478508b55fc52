"""Migrations: apply once, record checksums, refuse edits, roll back failures, serialise runs."""

from __future__ import annotations

import hashlib
import os
import re
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import psycopg2
import pytest

from app import create_app, migrations
from app.settings import PROJECT_ROOT

FLASK = str(Path(sys.executable).parent / "flask")
PROJECT_MIGRATIONS = PROJECT_ROOT / "migrations"
UNREACHABLE = "postgresql://postgres@127.0.0.1:1/nowhere?connect_timeout=3"
TIMESTAMP = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,6})?Z"

FIRST = "CREATE TABLE first_table (id integer PRIMARY KEY);\n"
SECOND = (
    "CREATE TABLE second_table (id integer PRIMARY KEY);\nINSERT INTO second_table VALUES (1);\n"
)
THIRD = "CREATE TABLE third_table (id integer PRIMARY KEY);\n"


def query(dsn: str, sql: str, params: Any = None) -> list[tuple[Any, ...]]:
    """Run one statement on a fresh connection and return its rows."""
    conn = psycopg2.connect(dsn)
    conn.autocommit = True
    try:
        with conn.cursor() as cur:
            cur.execute(sql, params)
            return cur.fetchall() if cur.description else []
    finally:
        conn.close()


def tables(dsn: str) -> set[str]:
    rows = query(dsn, "SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
    return {row[0] for row in rows}


def recorded(dsn: str) -> dict[str, str]:
    return dict(query(dsn, "SELECT filename, checksum FROM schema_migrations"))


@pytest.fixture(scope="module")
def scratch_database(databases: Any) -> str:
    """One throwaway database for this module (each DROP DATABASE costs a checkpoint)."""
    return databases.create()


@pytest.fixture
def fresh(scratch_database: str) -> str:
    """An empty database: the scratch database with its public schema made anew."""
    query(scratch_database, "DROP SCHEMA public CASCADE; CREATE SCHEMA public")
    assert tables(scratch_database) == set()
    return scratch_database


@pytest.fixture
def migration_dir(tmp_path: Path) -> Callable[..., Path]:
    """Write migration files (name -> SQL) into a temporary directory and return it."""
    directory = tmp_path / "migrations"
    directory.mkdir()

    def write(**files: str) -> Path:
        for name, sql in files.items():
            (directory / f"{name}.sql").write_text(sql, encoding="utf-8")
        return directory

    return write


def cli_env(dsn: str, directory: Path | str) -> dict[str, str]:
    environ = {k: v for k, v in os.environ.items() if not k.startswith(("DB_", "LOG_"))}
    environ.pop("FLASK_APP", None)
    return {**environ, "DATABASE_URL": dsn, "MIGRATIONS_DIR": str(directory)}


def flask_migrate(dsn: str, directory: Path | str, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [FLASK, "--app", "wsgi", "migrate", *args],
        cwd=PROJECT_ROOT,
        env=cli_env(dsn, directory),
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_fresh_database_gets_every_file_with_its_checksum(fresh: str) -> None:
    files = sorted(PROJECT_MIGRATIONS.glob("*.sql"))
    assert files, "the project has no migrations"

    applied = migrations.migrate(fresh, PROJECT_MIGRATIONS)

    assert applied == [path.name for path in files]
    assert {"applications", "configurations", "schema_migrations"} <= tables(fresh)
    expected = {path.name: hashlib.sha256(path.read_bytes()).hexdigest() for path in files}
    assert recorded(fresh) == expected
    assert migrations.pending(fresh, PROJECT_MIGRATIONS) == []


def test_second_run_applies_nothing(fresh: str, migration_dir: Callable[..., Path]) -> None:
    directory = migration_dir(**{"0001_first": FIRST, "0002_second": SECOND})
    assert migrations.migrate(fresh, directory) == ["0001_first.sql", "0002_second.sql"]
    before = query(fresh, "SELECT filename, checksum, applied_at FROM schema_migrations")

    assert migrations.migrate(fresh, directory) == []

    after = query(fresh, "SELECT filename, checksum, applied_at FROM schema_migrations")
    assert sorted(after) == sorted(before)
    assert query(fresh, "SELECT count(*) FROM second_table") == [(1,)]


def test_new_file_is_applied_after_earlier_ones(
    fresh: str, migration_dir: Callable[..., Path]
) -> None:
    migrations.migrate(fresh, migration_dir(**{"0001_first": FIRST}))
    directory = migration_dir(**{"0002_second": SECOND, "0003_third": THIRD})

    assert migrations.pending(fresh, directory) == ["0002_second.sql", "0003_third.sql"]
    assert migrations.migrate(fresh, directory) == ["0002_second.sql", "0003_third.sql"]
    assert {"first_table", "second_table", "third_table"} <= tables(fresh)


@pytest.mark.parametrize("session_zone", [None, "America/New_York", "Asia/Kolkata"])
def test_status_lines(
    fresh: str,
    migration_dir: Callable[..., Path],
    monkeypatch: pytest.MonkeyPatch,
    session_zone: str | None,
) -> None:
    if session_zone:  # libpq sets the session's time zone from PGTZ
        monkeypatch.setenv("PGTZ", session_zone)
    migrations.migrate(fresh, migration_dir(**{"0001_first": FIRST}))
    directory = migration_dir(**{"0002_second": SECOND})

    lines = migrations.status(fresh, directory)

    assert len(lines) == 2
    match = re.fullmatch(rf"applied ({TIMESTAMP}) 0001_first\.sql", lines[0])
    assert match, lines[0]
    assert lines[1] == "pending 0002_second.sql"
    shown = datetime.fromisoformat(match.group(1).replace("Z", "+00:00"))
    [(stored,)] = query(fresh, "SELECT applied_at FROM schema_migrations")
    assert shown == stored


def test_status_of_an_empty_database_creates_nothing(
    fresh: str, migration_dir: Callable[..., Path]
) -> None:
    directory = migration_dir(**{"0001_first": FIRST, "0002_second": SECOND})
    assert migrations.status(fresh, directory) == [
        "pending 0001_first.sql",
        "pending 0002_second.sql",
    ]
    assert tables(fresh) == set()


def test_edited_applied_file_is_refused(fresh: str, migration_dir: Callable[..., Path]) -> None:
    directory = migration_dir(**{"0001_first": FIRST})
    migrations.migrate(fresh, directory)
    migration_dir(**{"0001_first": FIRST + "-- an afterthought\n", "0002_second": SECOND})

    with pytest.raises(migrations.MigrationError, match="0001_first.sql"):
        migrations.migrate(fresh, directory)
    with pytest.raises(migrations.MigrationError, match="0001_first.sql"):
        migrations.pending(fresh, directory)
    assert "second_table" not in tables(fresh)  # nothing is applied past a refused edit
    assert list(recorded(fresh)) == ["0001_first.sql"]


def test_failing_file_rolls_back_itself_and_keeps_earlier_ones(
    fresh: str, migration_dir: Callable[..., Path]
) -> None:
    broken = "CREATE TABLE second_table (id integer);\nINSERT INTO second_table VALUES (1 / 0);\n"
    directory = migration_dir(**{"0001_first": FIRST, "0002_second": broken, "0003_third": THIRD})

    with pytest.raises(migrations.MigrationError, match="0002_second.sql"):
        migrations.migrate(fresh, directory)

    assert tables(fresh) == {"first_table", "schema_migrations"}
    assert list(recorded(fresh)) == ["0001_first.sql"]
    # A file that never applied may be fixed; the next run picks up where this one stopped.
    migration_dir(**{"0002_second": SECOND})
    assert migrations.migrate(fresh, directory) == ["0002_second.sql", "0003_third.sql"]
    assert query(fresh, "SELECT id FROM second_table") == [(1,)]


SLOW = (
    "CREATE TABLE runs (migration text NOT NULL);\n"
    "SELECT pg_sleep(1.5);\n"
    "INSERT INTO runs VALUES ('0001');\n"
)
AFTER_SLOW = "INSERT INTO runs VALUES ('0002');\n"


def _wait_for_lock_waiter(dsn: str, deadline: float) -> None:
    """Poll until one run sleeps inside a migration while another waits for the lock."""
    name = psycopg2.extensions.parse_dsn(dsn)["dbname"]
    sql = (
        "SELECT count(*) FILTER (WHERE query LIKE '%%pg_sleep%%' AND state = 'active'),"
        " count(*) FILTER (WHERE wait_event = 'advisory')"
        " FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()"
    )
    while time.monotonic() < deadline:
        [(sleeping, waiting)] = query(dsn, sql, (name,))
        if sleeping == 1 and waiting == 1:
            return
        time.sleep(0.02)
    pytest.fail("never saw one run applying while the other waited for the advisory lock")


def test_concurrent_runs_apply_each_file_once(
    fresh: str, migration_dir: Callable[..., Path]
) -> None:
    directory = migration_dir(**{"0001_slow": SLOW, "0002_after": AFTER_SLOW})
    results: list[list[str]] = []
    errors: list[BaseException] = []
    start = threading.Barrier(2)

    def run() -> None:
        start.wait()
        try:
            results.append(migrations.migrate(fresh, directory))
        except BaseException as exc:  # reported below, in the test's thread
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    try:
        _wait_for_lock_waiter(fresh, time.monotonic() + 10)
    finally:
        for thread in threads:
            thread.join(timeout=30)

    assert errors == []
    assert sorted(results) == [[], ["0001_slow.sql", "0002_after.sql"]]
    assert query(fresh, "SELECT migration FROM runs ORDER BY 1") == [("0001",), ("0002",)]
    assert sorted(recorded(fresh)) == ["0001_slow.sql", "0002_after.sql"]


def test_concurrent_flask_migrate_processes_apply_each_file_once(
    fresh: str, migration_dir: Callable[..., Path]
) -> None:
    directory = migration_dir(**{"0001_slow": SLOW, "0002_after": AFTER_SLOW})
    command = [FLASK, "--app", "wsgi", "migrate"]
    processes = [
        subprocess.Popen(
            command,
            cwd=PROJECT_ROOT,
            env=cli_env(fresh, directory),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    try:
        _wait_for_lock_waiter(fresh, time.monotonic() + 20)
        outputs = [process.communicate(timeout=60) for process in processes]
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()
                process.wait()

    assert [process.returncode for process in processes] == [0, 0], outputs
    assert all(stderr == "" for _, stderr in outputs), outputs
    stdouts = sorted(stdout for stdout, _ in outputs)
    assert stdouts == [
        "applied 0001_slow.sql\napplied 0002_after.sql\n",
        "nothing to apply: the database is up to date\n",
    ]
    assert query(fresh, "SELECT migration FROM runs ORDER BY 1") == [("0001",), ("0002",)]


def test_flask_command_applies_and_reports(fresh: str, migration_dir: Callable[..., Path]) -> None:
    directory = migration_dir(**{"0001_first": FIRST, "0002_second": SECOND})

    status = flask_migrate(fresh, directory, "--status")
    assert (status.returncode, status.stdout) == (
        0,
        "pending 0001_first.sql\npending 0002_second.sql\n",
    )

    first = flask_migrate(fresh, directory)
    assert first.returncode == 0, first.stderr
    assert first.stdout == "applied 0001_first.sql\napplied 0002_second.sql\n"

    again = flask_migrate(fresh, directory)
    assert again.returncode == 0, again.stderr
    assert again.stdout == "nothing to apply: the database is up to date\n"

    status = flask_migrate(fresh, directory, "--status")
    assert status.returncode == 0
    lines = status.stdout.splitlines()
    assert [line.split(" ")[0] + " " + line.split(" ")[-1] for line in lines] == [
        "applied 0001_first.sql",
        "applied 0002_second.sql",
    ]
    assert all(re.fullmatch(rf"applied {TIMESTAMP} \S+", line) for line in lines), lines


def _assert_one_line_error(result: Any, *expected: str) -> None:
    output = (result.stdout + result.stderr).strip()
    assert result.returncode != 0
    assert "Traceback" not in output
    assert len(output.splitlines()) == 1, output
    for text in expected:
        assert text in output


def test_flask_command_refuses_an_edited_file(
    fresh: str, migration_dir: Callable[..., Path]
) -> None:
    directory = migration_dir(**{"0001_first": FIRST})
    assert flask_migrate(fresh, directory).returncode == 0
    migration_dir(**{"0001_first": FIRST.replace("integer", "bigint")})

    _assert_one_line_error(flask_migrate(fresh, directory), "0001_first.sql", "edited")


@pytest.mark.parametrize("args", [(), ("--status",)])
@pytest.mark.parametrize("dsn", ["unreachable", "missing database"])
def test_flask_command_without_a_database(databases: Any, dsn: str, args: tuple[str, ...]) -> None:
    url = UNREACHABLE
    if dsn == "missing database":
        url = psycopg2.extensions.make_dsn(databases.dsn, dbname="cs_no_such_database")

    started = time.monotonic()
    result = flask_migrate(url, PROJECT_MIGRATIONS, *args)

    assert time.monotonic() - started < 15
    _assert_one_line_error(result, "cannot reach the database")


@pytest.fixture
def cli_app(fresh: str, migration_dir: Callable[..., Path]) -> Iterator[Any]:
    """An app whose `flask migrate` works on the fresh database and a temporary directory."""
    directory = migration_dir(**{"0001_first": FIRST})
    yield create_app({"DATABASE_URL": fresh, "MIGRATIONS_DIR": str(directory), "TESTING": True})


def test_cli_runner_migrate_and_status(
    cli_app: Any, fresh: str, migration_dir: Callable[..., Path]
) -> None:
    runner = cli_app.test_cli_runner()

    result = runner.invoke(args=["migrate"])
    assert (result.exit_code, result.output) == (0, "applied 0001_first.sql\n")
    result = runner.invoke(args=["migrate"])
    assert (result.exit_code, result.output) == (
        0,
        "nothing to apply: the database is up to date\n",
    )

    migration_dir(**{"0002_second": SECOND})
    result = runner.invoke(args=["migrate", "--status"])
    assert result.exit_code == 0
    applied, pending = result.output.splitlines()
    assert re.fullmatch(rf"applied {TIMESTAMP} 0001_first\.sql", applied)
    assert pending == "pending 0002_second.sql"


def test_cli_runner_reports_an_edited_file(
    cli_app: Any, migration_dir: Callable[..., Path]
) -> None:
    runner = cli_app.test_cli_runner()
    assert runner.invoke(args=["migrate"]).exit_code == 0
    migration_dir(**{"0001_first": "-- rewritten\n" + FIRST})

    result = runner.invoke(args=["migrate"])

    assert result.exit_code == 1
    assert isinstance(result.exception, SystemExit)  # click's clean exit, not a crash
    assert result.output.startswith("Error: 0001_first.sql was edited after it was applied")
    assert len(result.output.strip().splitlines()) == 1


def test_cli_runner_reports_a_failing_file(
    cli_app: Any, fresh: str, migration_dir: Callable[..., Path]
) -> None:
    migration_dir(**{"0002_second": "CREATE TABLE second_table (;\n"})

    result = cli_app.test_cli_runner().invoke(args=["migrate"])

    assert result.exit_code == 1
    assert isinstance(result.exception, SystemExit)
    assert "0002_second.sql failed" in result.output
    assert "Traceback" not in result.output
    assert list(recorded(fresh)) == ["0001_first.sql"]


def test_cli_runner_without_a_database(tmp_path: Path) -> None:
    app = create_app({"DATABASE_URL": UNREACHABLE, "TESTING": True})

    result = app.test_cli_runner().invoke(args=["migrate"])

    assert result.exit_code == 1
    assert isinstance(result.exception, SystemExit)
    assert result.output.startswith("Error: cannot reach the database:")
    assert len(result.output.strip().splitlines()) == 1
