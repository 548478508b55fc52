"""Watching: `watch` writes files and runs a command, and the library's Watcher."""

from __future__ import annotations

import json
import logging
import signal
import threading
import time
from pathlib import Path

import pytest
from config_service_client import Change, Client, NotFound

from tests.client.conftest import Service, read_json, revoke, wait_until

STOP_WITHIN = 1.0  # seconds from SIGINT/SIGTERM or stop() to the end of the watch


def parked(watch, file: Path, config: object) -> None:
    """Wait until the watch wrote `config` and has had time to start its long poll."""
    wait_until(lambda: read_json(file) == config, 15, f"{file} to hold {config}")
    time.sleep(0.3)


def test_watch_writes_at_start_and_after_each_change(
    service: Service, tmp_path: Path, watch
) -> None:
    made = service.api.seed(config={"n": 0})
    out, runs = tmp_path / "out" / "app.json", tmp_path / "runs.log"
    command = f'echo "$CONFIG_SERVICE_OUTPUT" >> {runs}'
    process = watch("billing", "database", "--output", str(out), "--exec", command,
                    *service.args())  # fmt: skip
    parked(process, out, {"n": 0})
    assert out.read_text() == '{\n  "n": 0\n}\n'
    service.api.patch(made["id"], config={"n": 1})
    wait_until(lambda: read_json(out) == {"n": 1}, 5, "the change")
    wait_until(lambda: runs.exists() and len(runs.read_text().splitlines()) == 2, 5, "2 runs")
    assert runs.read_text().splitlines() == [str(out)] * 2
    assert "one long poll per target" not in process.stderr()  # POST /watch, no fallback


def test_watch_never_rewrites_the_same_content(service: Service, tmp_path: Path, watch) -> None:
    made = service.api.seed(config={"n": 0})
    out, runs = tmp_path / "app.json", tmp_path / "runs.log"
    process = watch("billing", "database", "--output", str(out), "--exec", f"echo x >> {runs}",
                    *service.args())  # fmt: skip
    parked(process, out, {"n": 0})
    inode = out.stat().st_ino
    service.api.patch(made["id"], comments="only the comments change")  # version 2, same config
    wait_until(lambda: "is up to date (version 2)" in process.stderr(), 5, "version 2 seen")
    assert out.stat().st_ino == inode
    assert runs.read_text() == "x\n"
    process.stop()

    again = watch("billing", "database", "--output", str(out), "--exec", f"echo x >> {runs}",
                  *service.args())  # fmt: skip
    wait_until(lambda: "is up to date (version 2)" in again.stderr(), 15, "a restart")
    assert out.stat().st_ino == inode and runs.read_text() == "x\n"


def test_burst_of_100_changes_last_one_delivered_file_never_torn(
    service: Service, tmp_path: Path, watch
) -> None:
    made = service.api.seed(config={"n": 0, "pad": "x" * 20000})
    out, last = tmp_path / "app.json", tmp_path / "exec-saw.json"
    process = watch("billing", "database", "--output", str(out), "--exec",
                    f'cp "$CONFIG_SERVICE_OUTPUT" {last}.tmp && mv {last}.tmp {last}',
                    *service.args())  # fmt: skip
    parked(process, out, {"n": 0, "pad": "x" * 20000})
    seen, torn, stop = set(), [], threading.Event()

    def reader() -> None:
        while not stop.is_set():
            try:
                seen.add(json.loads(out.read_bytes())["n"])
            except (ValueError, KeyError) as exc:  # a partial or empty file
                torn.append(repr(exc))

    thread = threading.Thread(target=reader)
    thread.start()
    try:
        for n in range(1, 101):
            service.api.patch(made["id"], config={"n": n})
        wait_until(lambda: read_json(last) == {"n": 100, "pad": "x" * 20000}, 10, "n=100")
    finally:
        stop.set()
        thread.join()
    assert torn == []
    assert read_json(out)["n"] == 100 and 100 in seen
    assert seen <= set(range(101))


def test_deleted_configuration_ends_the_watch_keeping_the_file(
    service: Service, tmp_path: Path, watch
) -> None:
    made = service.api.seed(config={"n": 0})
    out = tmp_path / "app.json"
    process = watch("billing", "database", "--output", str(out), *service.args())
    parked(process, out, {"n": 0})
    deleted = time.monotonic()
    service.api.call("DELETE", f"/api/v1/configurations/{made['id']}")
    assert process.process.wait(timeout=5) == 4
    assert time.monotonic() - deleted < 2.0
    assert read_json(out) == {"n": 0}
    last = process.stderr().splitlines()[-1]
    assert last.startswith("config-service-client: error: billing/database: HTTP 404")
    assert last.endswith("the files written so far are kept")


def test_revoked_token_ends_the_watch_with_401(service: Service, tmp_path: Path, watch) -> None:
    service.api.seed(config={"n": 0})
    out = tmp_path / "app.json"
    # This server checks the token when a poll starts (a wait it has begun runs on), so the
    # 401 comes at the next poll: a short wait keeps the test short.
    wait = 2
    process = watch("billing", "database", "--output", str(out), "--wait", str(wait),
                    *service.args())  # fmt: skip
    parked(process, out, {"n": 0})
    revoked = time.monotonic()
    revoke(service.database_url, service.reader_name)
    assert process.process.wait(timeout=wait + 5) == 3
    assert time.monotonic() - revoked < wait + 1.5
    assert read_json(out) == {"n": 0}
    last = process.stderr().splitlines()[-1]
    assert last.startswith("config-service-client: error: ") and "HTTP 401" in last
    assert "Traceback" not in process.stderr()


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_signal_ends_the_watch_within_a_second(
    service: Service, tmp_path: Path, watch, signum: int
) -> None:
    service.api.seed(config={"n": 0})
    out = tmp_path / "app.json"
    process = watch("billing", "database", "--output", str(out), *service.args())
    parked(process, out, {"n": 0})
    sent = time.monotonic()
    process.process.send_signal(signum)
    assert process.process.wait(timeout=5) == 0
    assert time.monotonic() - sent < STOP_WITHIN
    assert "Traceback" not in process.stderr()


def test_several_pairs_with_output_dir(service: Service, tmp_path: Path, watch) -> None:
    first = service.api.seed("billing", "database", {"a": 1})
    service.api.seed("billing", "flags", {"b": 1})
    service.api.seed("search", "database", {"c": 1})
    folder = tmp_path / "configs"
    process = watch("billing", "database", "billing", "flags", "search", "database",
                    "--output-dir", str(folder), *service.args())  # fmt: skip
    files = [folder / "billing/database.json", folder / "billing/flags.json",
             folder / "search/database.json"]  # fmt: skip
    wait_until(lambda: [read_json(f) for f in files] == [{"a": 1}, {"b": 1}, {"c": 1}], 15)
    time.sleep(0.3)
    inodes = [f.stat().st_ino for f in files]
    service.api.patch(first["id"], config={"a": 2})
    wait_until(lambda: read_json(files[0]) == {"a": 2}, 5, "the change")
    assert [f.stat().st_ino for f in files[1:]] == inodes[1:]
    process.process.send_signal(signal.SIGTERM)
    assert process.process.wait(timeout=5) == 0


def test_watch_usage_errors_are_one_line(tmp_path: Path) -> None:
    from tests.client.conftest import run_cli

    done = run_cli(
        "watch", "a", "b", "c", "d", "--output", str(tmp_path / "x"), "--url", "http://x"
    )
    assert done.returncode == 1
    assert done.stderr == (
        "config-service-client: error: --output takes one APP NAME; use --output-dir for several\n"
    )


# The library


def test_watcher_iterates_over_changes_and_stops_from_another_thread(service: Service) -> None:
    made = service.api.seed(config={"n": 0})
    other = service.api.seed(name="flags", config={"f": False})
    client = Client(service.url, service.reader)
    watcher = client.watch([("billing", "database"), ("billing", "flags")], wait=30)
    got: list[Change] = []
    stopped_at: list[float] = []

    def stop_now() -> None:
        stopped_at.append(time.monotonic())
        watcher.stop()

    for change in watcher:
        got.append(change)
        if len(got) == 2:  # the two values at start
            service.api.patch(other["id"], config={"f": True})
        if len(got) == 3:
            threading.Timer(0.5, stop_now).start()  # while both long polls are blocked
    ended = time.monotonic()
    assert [(c.target.name, c.result.config) for c in got] == [
        ("database", {"n": 0}), ("flags", {"f": False}), ("flags", {"f": True}),
    ]  # fmt: skip
    assert ended - stopped_at[0] < STOP_WITHIN
    assert watcher.mode == "watch"  # one POST /watch for every configuration
    assert made["version"] == 1
    client.close()


def test_watcher_raises_not_found_for_a_deleted_configuration(service: Service) -> None:
    made = service.api.seed(config={"n": 0})
    client = Client(service.url, service.reader)
    watcher = client.watch([("billing", "database")], wait=30)
    calls: list[Change] = []

    def on_change(change: Change) -> None:
        calls.append(change)
        service.api.call("DELETE", f"/api/v1/configurations/{made['id']}")

    watcher.on_change = on_change
    with pytest.raises(NotFound):
        watcher.run()
    assert len(calls) == 1
    client.close()


def test_watcher_callbacks_see_changes_in_order_without_gaps_in_etags(
    service: Service, caplog: pytest.LogCaptureFixture
) -> None:
    made = service.api.seed(config={"n": 0})
    client = Client(service.url, service.reader)
    versions: list[int] = []
    watcher = client.watch([("billing", "database")], wait=30)
    watcher.on_change = lambda change: versions.append(change.result.version)
    runner = threading.Thread(target=watcher.run)
    with caplog.at_level(logging.INFO, "config_service_client"):
        runner.start()
        wait_until(lambda: versions == [1], 10, "the value at start")
        for n in range(1, 6):
            service.api.patch(made["id"], config={"n": n})
        wait_until(lambda: versions[-1] == 6, 10, "version 6")
        watcher.stop()
        runner.join(timeout=2)
    assert not runner.is_alive()
    assert versions == sorted(set(versions))  # never twice, never backwards
    client.close()
