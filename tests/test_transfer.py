"""`flask export` and `flask import`, through the CLI and a real `flask`."""

from __future__ import annotations

import copy
import json
import os
import pty
import subprocess
import sys
from contextlib import closing
from pathlib import Path
from typing import Any

import psycopg2
import pytest
from psycopg2 import sql

from app import create_app, migrations
from app.db import connection_kwargs
from app.schemas.common import NAME_RULE
from app.settings import PROJECT_ROOT
from app.transfer.export import export
from app.web.audit import cli_actor
from app.worker import current_worker
from tests.helpers import MIGRATIONS_DIR, create_application, create_configuration

API = "/api/v1/configurations"
FLASK = str(Path(sys.executable).parent / "flask")
SCHEMA = {"type": "object", "required": ["host"], "properties": {"port": {"type": "integer"}}}
TABLES = ("applications", "configurations", "configuration_versions", "audit_log")


@pytest.fixture
def flask(app: Any):
    """Run a `flask` command in-process; return its result (stdout and stderr apart)."""
    runner = app.test_cli_runner()
    return lambda *args, **kwargs: runner.invoke(args=list(args), **kwargs)


@pytest.fixture
def populated(client: Any) -> None:
    """Three applications (one empty) and four configurations, one of them at version 3."""
    billing = create_application(client, "billing", comments="payments")
    create_configuration(client, billing["id"], "database", {"host": "db1", "pool": {"max": 20}})
    flags = create_configuration(
        client, billing["id"], "flags", {"host": "h", "port": 1}, comments="", schema=SCHEMA
    )
    client.patch(f"{API}/{flags['id']}", json={"config": {"port": 2}})
    client.patch(f"{API}/{flags['id']}", json={"config": {"port": 3, "new": [True, None]}})
    create_application(client, "empty")
    api = create_application(client, "api")
    numbers = {"int": 2**70, "float": 1.5, "tiny": 1e-07, "neg": -3, "zero": 0.0, "bool": False}
    create_configuration(client, api["id"], "numbers", numbers, schema=True)
    create_configuration(client, api["id"], "text", {"ü/~": "zürich ✓", "quote": '"\\\n'})


def counts(db: Any) -> dict[str, int]:
    with db.cursor() as cur:
        found = {}
        for table in TABLES:
            cur.execute(sql.SQL("SELECT count(*) AS n FROM {}").format(sql.Identifier(table)))
            found[table] = cur.fetchone()["n"]
        return found


def exported(flask: Any, path: Path) -> str:
    result = flask("export", "-o", str(path))
    assert result.exit_code == 0, result.output
    return path.read_text(encoding="utf-8")


def imported(flask: Any, path: Path, *options: str) -> list[str]:
    result = flask("import", str(path), *options)
    assert result.exit_code == 0, result.output
    return result.stdout.splitlines()


# Export


def test_export_of_an_empty_database(flask):
    result = flask("export")
    assert result.exit_code == 0
    assert json.loads(result.stdout) == {
        "format": "config-service/v2",
        "environments": [],
        "applications": [],
    }
    assert result.stderr == "exported 0 application(s), 0 configuration(s) to standard output\n"


def test_export_writes_current_versions_by_name(flask, populated, tmp_path):
    document = json.loads(exported(flask, tmp_path / "backup.json"))
    assert document["format"] == "config-service/v2" and document["environments"] == []
    assert [entry["name"] for entry in document["applications"]] == ["api", "billing", "empty"]
    api, billing, empty = document["applications"]
    assert empty == {"name": "empty", "comments": None, "configurations": []}
    assert billing["comments"] == "payments"
    assert billing["configurations"][1] == {
        "name": "flags",
        "comments": "",
        "config": {"host": "h", "new": [True, None], "port": 3},
        "schema": SCHEMA,
        "overlays": {},
    }
    assert billing["configurations"][0]["schema"] is None
    numbers = api["configurations"][0]
    assert numbers["schema"] is True
    assert numbers["config"]["int"] == 2**70 and numbers["config"]["tiny"] == 1e-07
    assert api["configurations"][1]["config"] == {"ü/~": "zürich ✓", "quote": '"\\\n'}


def test_export_output_file_is_written_whole_or_not_at_all(flask, tmp_path):
    result = flask("export", "-o", str(tmp_path / "missing" / "backup.json"))
    assert result.exit_code == 1
    assert "cannot write" in result.output and "Traceback" not in result.output
    assert not (tmp_path / "missing").exists()


BIG = 20_000  # configurations of about 2 kB each: about 40 MB of export


@pytest.fixture
def big(db: Any) -> None:
    """One application with BIG configurations, inserted by SQL (fast)."""
    with db.cursor() as cur:
        cur.execute(
            "INSERT INTO applications (id, name) VALUES ('01ARZ3NDEKTSV4RRFFQ69G5FAV', 'big')"
        )
        cur.execute(
            "INSERT INTO configurations (id, application_id, name, config)"
            " SELECT '01ARZ3NDEKTSV4RRFFQ69G' || upper(lpad(to_hex(g), 4, '0')),"
            "   '01ARZ3NDEKTSV4RRFFQ69G5FAV', 'c' || g,"
            "   jsonb_build_object('i', g, 'pad', repeat('x', 2000))"
            " FROM generate_series(1, %s) AS g",
            (BIG,),
        )


MEASURE = """
import sys
from contextlib import closing
import psycopg2
from app.transfer.export import export

def peak():  # this process's resident high-water mark (ru_maxrss counts the parent's too)
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith("VmHWM:"))

class Sink:
    size = 0
    def write(self, text):
        self.size += len(text)

sink = Sink()
with closing(psycopg2.connect(sys.argv[1])) as conn:
    before = peak()
    counts = export(conn, sink)
    after = peak()
print(counts[1], sink.size, (after - before) * 1024)
"""


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="needs Linux /proc")
def test_export_streams_in_constant_memory(database_url, big):
    """The process's peak memory grows by a small fraction of the document it writes."""
    done = subprocess.run(
        [sys.executable, "-c", MEASURE, database_url],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    configurations, size, growth = map(int, done.stdout.split())
    assert configurations == BIG and size > 40_000_000
    assert growth < size / 8, (growth, size)


def test_export_reads_through_a_server_side_cursor(app, big):
    """Rows arrive in batches from a named cursor, never all at once."""
    seen = []

    class Sink:
        def write(self, text: str) -> None:
            if not seen and '"c1"' in text:
                with conn.cursor() as cur:  # the same transaction, between two fetches
                    cur.execute("SELECT name FROM pg_cursors")
                    seen.extend(row["name"] for row in cur.fetchall())

    with closing(psycopg2.connect(**connection_kwargs(app.config))) as conn:
        export(conn, Sink())  # type: ignore[arg-type]
    assert seen == ["export"]


# Import


@pytest.fixture
def empty_app(databases: Any, app_settings: dict[str, Any]):
    """The application on a fresh, migrated, empty database."""
    url = databases.create()
    migrations.migrate(url, MIGRATIONS_DIR)
    application = create_app({**app_settings, "DATABASE_URL": url, "DATABASE_LISTEN_URL": url})
    yield application
    current_worker(application).shutdown()


def test_round_trip_export_empty_database_import_export(flask, populated, empty_app, tmp_path):
    first = exported(flask, tmp_path / "first.json")
    runner = empty_app.test_cli_runner()
    with empty_app.app_context():  # commands run in the innermost pushed app's context
        result = runner.invoke(args=["import", str(tmp_path / "first.json")])
        assert result.exit_code == 0, result.output
        assert result.stdout.splitlines() == [
            "environments: 0 created, 0 updated, 0 unchanged",
            "applications: 3 created, 0 updated, 0 unchanged",
            "configurations: 4 created, 0 updated, 0 unchanged",
            "overlays: 0 created, 0 updated, 0 unchanged",
        ]
        result = runner.invoke(args=["export", "-o", str(tmp_path / "second.json")])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "second.json").read_text(encoding="utf-8") == first


def test_imported_writes_have_versions_and_audit_entries(flask, db, tmp_path):
    application = {"name": "a", "configurations": [{"name": "c", "config": {"x": 1}}]}
    path = tmp_path / "file.json"
    path.write_text(json.dumps({"format": "config-service/v1", "applications": [application]}))
    assert imported(flask, path)[1] == "configurations: 1 created, 0 updated, 0 unchanged"
    with db.cursor() as cur:
        cur.execute("SELECT version, comments, config, schema FROM configuration_versions")
        assert cur.fetchall() == [
            {"version": 1, "comments": None, "config": {"x": 1}, "schema": None}
        ]
        cur.execute("SELECT actor, action, resource_type, version, request_id FROM audit_log")
        entries = sorted(cur.fetchall(), key=lambda row: row["resource_type"])
    assert entries == [
        {"actor": cli_actor(), "action": "create", "resource_type": kind, "version": version,
         "request_id": None}
        for kind, version in (("application", None), ("configuration", 1))
    ]  # fmt: skip


def test_reimport_changes_nothing(flask, db, populated, tmp_path):
    path = tmp_path / "backup.json"
    before_text = exported(flask, path)
    before = counts(db)
    assert imported(flask, path) == [
        "environments: 0 created, 0 updated, 0 unchanged",
        "applications: 0 created, 0 updated, 3 unchanged",
        "configurations: 0 created, 0 updated, 4 unchanged",
        "overlays: 0 created, 0 updated, 0 unchanged",
    ]
    assert counts(db) == before  # no version, no audit entry
    assert exported(flask, tmp_path / "again.json") == before_text


def test_import_updates_changed_and_creates_missing_by_name(flask, db, populated, tmp_path):
    path = tmp_path / "backup.json"
    document = json.loads(exported(flask, path))
    api, billing, empty = document["applications"]
    billing["comments"] = "money"
    billing["configurations"][0]["config"]["pool"]["max"] = 30
    billing["configurations"][1]["schema"] = None  # only the schema changes
    empty["configurations"].append({"name": "new", "config": {}})  # comments, schema: absent
    document["applications"].append({"name": "zeta", "comments": "last"})
    path.write_text(json.dumps(document), encoding="utf-8")
    before = counts(db)
    assert imported(flask, path)[1:3] == [
        "applications: 1 created, 1 updated, 2 unchanged",
        "configurations: 1 created, 2 updated, 2 unchanged",
    ]
    after = counts(db)
    assert after["configuration_versions"] == before["configuration_versions"] + 3
    assert after["audit_log"] == before["audit_log"] + 5
    with db.cursor() as cur:
        cur.execute("SELECT name, version, schema FROM configurations ORDER BY name")
        rows = {row["name"]: (row["version"], row["schema"]) for row in cur.fetchall()}
    assert rows["database"] == (2, None) and rows["flags"] == (4, None) and rows["new"] == (1, None)
    assert rows["numbers"] == (1, True)


def test_dry_run_counts_but_writes_nothing(flask, db, populated, tmp_path):
    path = tmp_path / "backup.json"
    document = json.loads(exported(flask, path))
    document["applications"][0]["configurations"][0]["config"]["int"] = 1
    document["applications"].append(
        {"name": "new", "configurations": [{"name": "c", "config": {}}]}
    )
    path.write_text(json.dumps(document), encoding="utf-8")
    before, rows = counts(db), everything(db)
    assert imported(flask, path, "--dry-run") == [
        "dry run: nothing was written; the import would give",
        "environments: 0 created, 0 updated, 0 unchanged",
        "applications: 1 created, 0 updated, 3 unchanged",
        "configurations: 1 created, 1 updated, 3 unchanged",
        "overlays: 0 created, 0 updated, 0 unchanged",
    ]
    assert counts(db) == before and everything(db) == rows


def everything(db: Any) -> list[Any]:
    with db.cursor() as cur:
        cur.execute("SELECT * FROM configurations ORDER BY id")
        return cur.fetchall()


def test_import_reads_standard_input(flask):
    document = {"format": "config-service/v1", "applications": [{"name": "a"}]}
    result = flask("import", "-", input=json.dumps(document).encode())
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[0] == "applications: 1 created, 0 updated, 0 unchanged"


VALID = {
    "format": "config-service/v1",
    "applications": [
        {"name": "ok", "comments": None, "configurations": [{"name": "c", "config": {}}]},
        {"name": "second", "configurations": []},
        {"name": "third", "configurations": []},
        {"name": "fourth", "configurations": [{"name": "first", "config": {"host": "h"}}]},
    ],
}
C = "/applications/3/configurations/0"  # the last configuration of VALID


def broken(changes: dict[str, Any]) -> dict[str, Any]:
    """Return VALID with each JSON pointer's value set (appended at an array's length)."""
    document = copy.deepcopy(VALID)
    for path, value in changes.items():
        *parents, last = [int(p) if p.isdigit() else p for p in path.split("/")[1:]]
        target: Any = document
        for part in parents:
            target = target[part]
        if isinstance(target, list) and last == len(target):
            target.append(value)
        else:
            target[last] = value
    return document


SCHEMA_HOST_INT = {"properties": {"host": {"type": "integer"}}, "required": ["port"]}
INVALID = [
    (b"{", ["not valid JSON: Expecting property name enclosed in double quotes: line 1 column 2"]),
    (b'{"a": NaN}', ["not valid JSON: NaN is not valid JSON"]),
    (b"\xff", ["not UTF-8 text (byte 0)"]),
    ([], [": Must be a JSON object."]),
    ({"applications": []}, ["/format: Missing data for required field."]),
    ({"format": "config-service/v1"}, ["/applications: Missing data for required field."]),
    (
        {**VALID, "format": "v2"},
        ["/format: Must be one of 'config-service/v1', 'config-service/v2'."],
    ),
    ({**VALID, "extra": 1}, ["/extra: Unknown field."]),
    (broken({"/applications/1/colour": "red"}), ["/applications/1/colour: Unknown field."]),
    (broken({"/applications/2": "x"}), ["/applications/2: Invalid input type."]),
    (
        broken({"/applications/2/name": ""}),
        [
            "/applications/2/name: Length must be between 1 and 128.",
            f"/applications/2/name: {NAME_RULE}",
        ],
    ),
    (
        broken({f"{C}/name": "bad name"}),
        [f"{C}/name: {NAME_RULE}"],
    ),
    (
        broken({"/applications/2/name": "ok"}),
        ["/applications/2/name: Duplicate name: entry 0 has it too."],
    ),
    (
        broken({"/applications/3/configurations/1": {"name": "first", "config": {}}}),
        ["/applications/3/configurations/1/name: Duplicate name: entry 0 has it too."],
    ),
    (broken({f"{C}/config": []}), [f"{C}/config: Not a valid mapping type."]),
    (
        broken({"/applications/3/comments": "x" * 1025}),
        ["/applications/3/comments: Longer than maximum length 1024."],
    ),
    (
        broken({f"{C}/schema": {"type": "strin"}}),
        [f"{C}/schema: /type: 'strin' is not valid under any of the given schemas"],
    ),
    (
        broken({f"{C}/schema": {"$ref": "http://127.0.0.1:9/s"}}),
        [f"{C}/schema: /$ref: Cannot resolve 'http://127.0.0.1:9/s'"],
    ),
    (
        broken({f"{C}/schema": SCHEMA_HOST_INT}),
        [
            f"{C}/config: 'port' is a required property",
            f"{C}/config/host: 'h' is not of type 'integer'",
        ],
    ),
    (
        broken(
            {
                "/applications/0/name": "a b",
                "/applications/1/configurations": "x",
                f"{C}/config": {"a/b": {}},
                f"{C}/schema": {"properties": {"a/b": False}},
            }
        ),
        [
            f"/applications/0/name: {NAME_RULE}",
            "/applications/1/configurations: Not a valid list.",
            f"{C}/config/a~1b: False schema does not allow {{}}",
        ],
    ),
]


@pytest.mark.parametrize(("content", "problems"), INVALID)
def test_an_invalid_file_writes_nothing_and_says_what_is_wrong(
    flask, db, tmp_path, content, problems
):
    create_application_row(db)
    before = counts(db)
    path = tmp_path / "bad.json"
    path.write_bytes(content if isinstance(content, bytes) else json.dumps(content).encode())
    result = flask("import", str(path))
    assert result.exit_code == 1
    lines = result.stderr.splitlines()
    assert lines[-1] == f"Error: {path} cannot be imported; nothing was written."
    assert len(lines[:-1]) == len(problems)
    for line, problem in zip(lines, problems, strict=False):
        assert line.startswith(problem), (line, problem)
    assert counts(db) == before
    assert "Traceback" not in result.output


def create_application_row(db: Any) -> None:
    with db.cursor() as cur:
        cur.execute(
            "INSERT INTO applications (id, name) VALUES ('01ARZ3NDEKTSV4RRFFQ69G5FAV', 'x')"
        )


def test_at_most_a_hundred_problems_are_listed(flask, tmp_path):
    bad_names = [{"name": f"-{index}"} for index in range(150)]
    document = {"format": "config-service/v1", "applications": bad_names}
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(document))
    result = flask("import", str(path))
    lines = result.stderr.splitlines()
    assert result.exit_code == 1 and len(lines) == 102
    assert lines[0] == f"/applications/0/name: {NAME_RULE}"
    assert lines[100] == "... and 50 more"


# The real `flask` command


def run_flask(database_url: str, *args: str, **kwargs: Any) -> subprocess.CompletedProcess:
    env = {**os.environ, "DATABASE_URL": database_url, "FLASK_APP": "wsgi"}
    env.pop("DATABASE_LISTEN_URL", None)
    return subprocess.run(
        [FLASK, *args], cwd=PROJECT_ROOT, env=env, timeout=120, check=False, **kwargs
    )


def test_the_flask_command_exports_and_imports(database_url, db, populated, tmp_path):
    path = tmp_path / "backup.json"
    done = run_flask(database_url, "export", "-o", str(path), capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout == f"exported 3 application(s), 4 configuration(s) to {path}\n"
    before = counts(db)
    done = run_flask(database_url, "import", str(path), "--dry-run", capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[2:4] == [
        "applications: 0 created, 0 updated, 3 unchanged",
        "configurations: 0 created, 0 updated, 4 unchanged",
    ]
    assert "importing" not in done.stdout  # no progress bar when not a terminal
    (tmp_path / "bad.json").write_text("[]")
    done = run_flask(
        database_url, "import", str(tmp_path / "bad.json"), capture_output=True, text=True
    )
    assert done.returncode == 1
    assert done.stderr.splitlines()[0] == ": Must be a JSON object."
    assert counts(db) == before


def test_the_flask_command_shows_a_progress_bar_on_a_terminal(database_url, tmp_path):
    document = {
        "format": "config-service/v1",
        "applications": [
            {"name": "a", "configurations": [{"name": f"c{i}", "config": {}} for i in range(50)]}
        ],
    }
    path = tmp_path / "file.json"
    path.write_text(json.dumps(document))
    controller, terminal = pty.openpty()
    try:
        done = run_flask(database_url, "import", str(path), stdout=terminal, stderr=terminal)
        os.close(terminal)
        terminal = -1
        output = read_all(controller)
    finally:
        os.close(controller)
        if terminal != -1:
            os.close(terminal)
    assert done.returncode == 0, output
    assert "importing" in output and "100%" in output
    assert "configurations: 50 created, 0 updated, 0 unchanged" in output


def read_all(fd: int) -> str:
    chunks = []
    while True:
        try:
            chunk = os.read(fd, 65536)
        except OSError:  # EIO: the other end is closed and everything was read
            break
        if not chunk:
            break
        chunks.append(chunk)
    return b"".join(chunks).decode("utf-8", "replace")
