"""Optimistic concurrency through a real gunicorn: racing writers, If-Match, intact history."""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from tests.servers import Gunicorn, running_gunicorn

API = "/api/v1/configurations"
THREADS = 8
WRITES_PER_THREAD = 15
DEADLINE = 90.0  # seconds for one racing test; a livelock fails instead of hanging


@pytest.fixture(scope="module")
def server(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gunicorn]:
    """Two workers on a free port (eight threads each under TEST_WORKER_CLASS=gthread)."""
    log = tmp_path_factory.mktemp("gunicorn") / "gunicorn.log"
    options = {"workers": 2, "threads": 8, "env": {"AUTH_ENABLED": "false"}}
    with running_gunicorn(database_url, log, **options) as running:
        yield running


class Answer:
    """A status, lower-cased headers and the decoded JSON body (or None)."""

    def __init__(self, status: int, headers: dict[str, str], body: Any):
        self.status, self.headers, self.body = status, headers, body

    def __repr__(self) -> str:
        return f"Answer({self.status}, {self.body!r})"


def call(server: Gunicorn, method: str, path: str, body: Any = None, **headers: str) -> Answer:
    """Send one request on a fresh connection and read the whole answer."""
    conn = server.connection()
    try:
        sent = {"Connection": "close", **{k.replace("_", "-"): v for k, v in headers.items()}}
        payload = None
        if body is not None:
            payload = json.dumps(body)
            sent.setdefault("Content-Type", "application/json")
        conn.request(method, path, body=payload, headers=sent)
        response = conn.getresponse()
        raw = response.read()
        received = {k.lower(): v for k, v in response.getheaders()}
        return Answer(response.status, received, json.loads(raw) if raw else None)
    finally:
        conn.close()


@pytest.fixture
def configuration(server: Gunicorn) -> dict[str, Any]:
    """A configuration at version 1, created through the server."""
    application = call(server, "POST", "/api/v1/applications", {"name": "billing"})
    assert application.status == 201, application
    body = {"application_id": application.body["id"], "name": "database", "config": {}}
    created = call(server, "POST", API, body)
    assert created.status == 201, created
    return created.body


def history(db: Any, configuration_id: str) -> list[dict[str, Any]]:
    """Return the configuration's history rows, oldest first."""
    with db.cursor() as cur:
        cur.execute(
            "SELECT version, config FROM configuration_versions"
            " WHERE configuration_id = %s ORDER BY version",
            (configuration_id,),
        )
        return cur.fetchall()


def assert_412(answer: Answer, current: int | None = None) -> None:
    """Check a 412 problem whose detail names a version (this one, if given)."""
    assert answer.status == 412, answer
    assert answer.headers["content-type"] == "application/problem+json"
    named = re.findall(r"\b\d+\b", answer.body["detail"])
    assert named, answer.body
    if current is not None:
        assert str(current) in named, answer.body


def conditional_write(server: Gunicorn, path: str, key: str, use_put: bool) -> tuple[int, Answer]:
    """Read the configuration, then write `key` into it under If-Match; return (read, answer)."""
    current = call(server, "GET", path)
    assert current.status == 200, current
    version = current.body["version"]
    assert current.headers["etag"] == f'"{version}"'
    if use_put:  # read-modify-write on the client: only If-Match keeps it from losing updates
        config = current.body["config"]
        config.setdefault("writes", {})[key] = True
        body = {"name": current.body["name"], "config": config}
        return version, call(server, "PUT", path, body, If_Match=current.headers["etag"])
    patch = {"config": {"writes": {key: True}}}
    headers = {"If_Match": current.headers["etag"], "Content_Type": "application/merge-patch+json"}
    return version, call(server, "PATCH", path, patch, **headers)


def racing_writer(
    server: Gunicorn, path: str, thread: int, start: threading.Barrier
) -> tuple[list[tuple[str, int]], int]:
    """Make WRITES_PER_THREAD successful writes, retrying on 412; return them and the 412s."""
    successes: list[tuple[str, int]] = []
    conflicts = 0
    start.wait()
    deadline = time.monotonic() + DEADLINE
    while len(successes) < WRITES_PER_THREAD:
        assert time.monotonic() < deadline, f"thread {thread} starved: {successes}"
        key = f"{thread}-{len(successes)}"
        read, answer = conditional_write(server, path, key, use_put=thread % 2 == 0)
        if answer.status == 412:
            assert_412(answer)
            assert int(re.findall(r"\b\d+\b", answer.body["detail"])[-1]) > read
            conflicts += 1
            continue
        assert answer.status == 200, answer
        # The write landed on exactly the version it read: nothing slipped in between.
        assert answer.body["version"] == read + 1, (read, answer)
        assert answer.headers["etag"] == f'"{read + 1}"'
        assert answer.body["config"]["writes"][key] is True
        successes.append((key, answer.body["version"]))
    return successes, conflicts


def test_racing_conditional_writers_lose_no_update(server, db, configuration):
    path = f"{API}/{configuration['id']}"
    start = threading.Barrier(THREADS)
    began = time.monotonic()
    with ThreadPoolExecutor(THREADS) as pool:
        futures = [
            pool.submit(racing_writer, server, path, thread, start) for thread in range(THREADS)
        ]
        results = [future.result(timeout=DEADLINE + 30) for future in futures]
    took = time.monotonic() - began
    successes = [success for done, _ in results for success in done]
    conflicts = sum(count for _, count in results)
    print(f"\n{len(successes)} writes, {conflicts} conflicts (412) in {took:.1f} s")

    total = THREADS * WRITES_PER_THREAD
    final = call(server, "GET", path)
    assert final.status == 200
    assert final.body["version"] == 1 + total
    assert final.headers["etag"] == f'"{1 + total}"'
    # Every success got its own version, and together they are exactly 2..final.
    assert sorted(version for _, version in successes) == list(range(2, total + 2))
    keys = {key for key, _ in successes}
    assert len(keys) == total
    assert final.body["config"]["writes"] == dict.fromkeys(keys, True)

    rows = history(db, configuration["id"])
    assert [row["version"] for row in rows] == list(range(1, total + 2))
    # Each version adds exactly the one key whose writer was answered that version.
    written_at = {version: key for key, version in successes}
    for before, after in zip(rows, rows[1:], strict=False):
        old, new = before["config"].get("writes", {}), after["config"]["writes"]
        assert set(new) - set(old) == {written_at[after["version"]]}
        assert set(old) <= set(new)


def racing_pair(server: Gunicorn, path: str, etag: str, round_: int, use_put: bool) -> list[Answer]:
    """Send two writes holding the same ETag at the same moment; return both answers."""
    start = threading.Barrier(2)

    def write(side: str) -> Answer:
        key = f"{round_}-{side}"
        if use_put:
            body = {"name": "database", "config": {"round": round_, "side": side}}
            start.wait()
            return call(server, "PUT", path, body, If_Match=etag)
        start.wait()
        return call(server, "PATCH", path, {"config": {key: True}}, If_Match=etag)

    with ThreadPoolExecutor(2) as pool:
        return list(pool.map(write, ["left", "right"]))


@pytest.mark.parametrize("use_put", [False, True], ids=["patch", "put"])
def test_two_writers_with_the_same_etag_one_wins(server, db, configuration, use_put):
    path = f"{API}/{configuration['id']}"
    rounds = 10
    for round_ in range(rounds):
        version = 1 + round_
        answers = racing_pair(server, path, f'"{version}"', round_, use_put)
        assert sorted(answer.status for answer in answers) == [200, 412], answers
        winner = next(answer for answer in answers if answer.status == 200)
        loser = next(answer for answer in answers if answer.status == 412)
        assert winner.body["version"] == version + 1
        assert winner.headers["etag"] == f'"{version + 1}"'
        assert_412(loser, current=version + 1)
    final = call(server, "GET", path)
    assert final.body["version"] == 1 + rounds
    assert [row["version"] for row in history(db, configuration["id"])] == list(
        range(1, rounds + 2)
    )


def blind_writer(
    server: Gunicorn, path: str, thread: int, writes: int, use_put: bool, start: threading.Barrier
) -> list[tuple[str, int]]:
    """Write without If-Match `writes` times; return (key, version answered) per write."""
    start.wait()
    done = []
    for i in range(writes):
        key = f"{thread}-{i}"
        if use_put:
            answer = call(server, "PUT", path, {"name": "database", "config": {"last": key}})
        else:
            answer = call(server, "PATCH", path, {"config": {"writes": {key: True}}})
        assert answer.status == 200, answer
        assert answer.headers["etag"] == f'"{answer.body["version"]}"'
        done.append((key, answer.body["version"]))
    return done


@pytest.mark.parametrize("use_put", [False, True], ids=["patch", "put"])
def test_writers_without_if_match_never_share_a_version(server, db, configuration, use_put):
    path = f"{API}/{configuration['id']}"
    writes = 10
    start = threading.Barrier(THREADS)
    with ThreadPoolExecutor(THREADS) as pool:
        futures = [
            pool.submit(blind_writer, server, path, thread, writes, use_put, start)
            for thread in range(THREADS)
        ]
        done = [item for future in futures for item in future.result(timeout=DEADLINE)]

    total = THREADS * writes
    assert sorted(version for _, version in done) == list(range(2, total + 2))
    rows = history(db, configuration["id"])
    assert [row["version"] for row in rows] == list(range(1, total + 2))
    final = call(server, "GET", path).body
    assert final["version"] == 1 + total
    if use_put:  # last writer wins: the final config is the one answered with the top version
        last_key = max(done, key=lambda item: item[1])[0]
        assert final["config"] == {"last": last_key}
    else:  # a merge patch is applied to the locked row, so none is lost even without If-Match
        assert final["config"]["writes"] == dict.fromkeys((key for key, _ in done), True)
    for row, (key, version) in zip(rows[1:], sorted(done, key=lambda item: item[1]), strict=True):
        assert row["version"] == version
        if use_put:
            assert row["config"] == {"last": key}
