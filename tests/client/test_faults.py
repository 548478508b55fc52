"""Faults: the server down at start, restarted during a watch, and its database stopped."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from app import migrations
from tests.client.conftest import (
    AUTH,
    Service,
    read_json,
    run_cli,
    start_on_port,
    wait_until,
)
from tests.helpers import MIGRATIONS_DIR
from tests.pgcluster import PgCluster
from tests.servers import free_port, running_gunicorn

pytestmark = pytest.mark.slow


def test_server_down_at_start_then_back(database_url: str, tmp_path: Path, watch) -> None:
    port, log, cache = free_port(), tmp_path / "gunicorn.log", tmp_path / "kept"
    server = start_on_port(database_url, log, port, workers=1, threads=32, env=AUTH)
    try:
        service = Service(server, database_url)
        made = service.api.seed(config={"n": 0})
        assert run_cli("get", "billing", "database", *service.args(cache)).returncode == 0
    finally:
        server.stop()

    kept, bare = tmp_path / "kept.json", tmp_path / "bare.json"
    with_copy = watch("billing", "database", "--output", str(kept), *service.args(cache))
    without = watch("billing", "database", "--output", str(bare), *service.args())
    wait_until(lambda: read_json(kept) == {"n": 0}, 15, "the kept copy written")
    assert "from the kept copy" in with_copy.stderr()
    wait_until(lambda: "retrying in" in without.stderr(), 15, "a retry")
    assert not bare.exists()

    server = start_on_port(database_url, log, port, workers=1, threads=32, env=AUTH)
    try:
        service.api.patch(made["id"], config={"n": 1})
        wait_until(lambda: read_json(kept) == {"n": 1}, 40, "the change after the restart")
        wait_until(lambda: read_json(bare) == {"n": 1}, 40, "the first answer")
        assert "Traceback" not in with_copy.stderr() + without.stderr()
    finally:
        with_copy.stop()
        without.stop()
        server.stop()


def test_server_restarted_during_a_watch(database_url: str, tmp_path: Path, watch) -> None:
    port, log = free_port(), tmp_path / "gunicorn.log"
    server = start_on_port(database_url, log, port, workers=1, threads=32, env=AUTH)
    service = Service(server, database_url)
    made = service.api.seed(config={"n": 0})
    out = tmp_path / "app.json"
    process = watch("billing", "database", "--output", str(out), *service.args())
    try:
        wait_until(lambda: read_json(out) == {"n": 0}, 15, "the first write")
        time.sleep(0.3)  # the long poll is parked
        server.stop()  # ends the long poll (304), then refuses connections
        wait_until(lambda: "retrying in" in process.stderr(), 10, "a refused connection")
        server = start_on_port(database_url, log, port, workers=1, threads=32, env=AUTH)
        service.api.patch(made["id"], config={"n": 1})
        wait_until(lambda: read_json(out) == {"n": 1}, 40, "the change after the restart")
        assert process.process.poll() is None
    finally:
        process.stop()
        server.stop()


@pytest.fixture
def cluster() -> Iterator[PgCluster]:
    """A private PostgreSQL cluster that the test may stop; deleted at the end."""
    made = PgCluster.create()
    try:
        made.start()
        yield made
    finally:
        made.destroy()


def test_database_stopped_503_back_off_and_recovery(
    cluster: PgCluster, tmp_path: Path, watch
) -> None:
    database = cluster.create_database(f"client_{uuid.uuid4().hex[:10]}")
    migrations.migrate(database, MIGRATIONS_DIR)
    # No read cache: every request goes to PostgreSQL, so an outage shows at once.
    env = {**AUTH, "READ_CACHE": "false", "DB_CONNECT_TIMEOUT": "2"}
    cache, out = tmp_path / "kept", tmp_path / "app.json"
    with running_gunicorn(database, tmp_path / "g.log", workers=1, threads=32, env=env) as server:
        service = Service(server, database)
        made = service.api.seed(config={"n": 0})
        process = watch("billing", "database", "--output", str(out), "--wait", "2",
                        *service.args(cache))  # fmt: skip
        wait_until(lambda: read_json(out) == {"n": 0}, 15, "the first write")

        cluster.stop("fast")
        wait_until(lambda: "HTTP 503" in process.stderr(), 15, "a 503")
        done = run_cli("get", "billing", "database", *service.args(cache))
        assert done.returncode == 0, done.stderr
        assert "kept copy" in done.stderr and "HTTP 503" in done.stderr
        time.sleep(2)  # a few rounds of back-off
        retries = process.stderr().count("retrying in")
        assert 1 <= retries <= 6, process.stderr()  # backing off, not a busy loop

        cluster.start()
        cluster.wait_until_accepting()
        wait_until(lambda: service.api.call("PATCH", f"/api/v1/configurations/{made['id']}",
                                            {"config": {"n": 1}})[0] == 200, 20)  # fmt: skip
        wait_until(lambda: read_json(out) == {"n": 1}, 30, "the change after the outage")
        assert process.process.poll() is None
        process.stop()
