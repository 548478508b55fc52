"""Long-poll watching with If-None-Match and `Prefer: wait`, LISTEN/NOTIFY."""

from __future__ import annotations

import asyncio
import json
import math
import os
import re
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import pytest

from app.db import get_pool
from app.web.tokens import create_token
from app.worker import current_worker
from tests.helpers import create_application, create_configuration
from tests.servers import Gunicorn, running_gunicorn

API = "/api/v1/configurations"
BY_NAME = "/api/v1/applications/by-name/billing/configurations/database"
LISTENER = "config-service-listener"
PROMPT = 1.0  # seconds within which a change must reach a waiting client
IMMEDIATE = 0.5  # seconds within which an answer that does not wait must come


@pytest.fixture
def configuration(client: Any) -> dict[str, Any]:
    """Configuration "database" of application "billing", at version 1."""
    application = create_application(client, "billing")
    return create_configuration(client, application["id"], "database", config={"n": 0})


@pytest.fixture(params=["by-id", "by-name"])
def path(request: pytest.FixtureRequest, configuration: dict[str, Any]) -> str:
    """The configuration's URL, by id and by application and configuration name."""
    return f"{API}/{configuration['id']}" if request.param == "by-id" else BY_NAME


@dataclass
class Timed:
    """A response and when its request started and finished (time.monotonic)."""

    response: Any
    started: float
    finished: float

    @property
    def seconds(self) -> float:
        return self.finished - self.started


def timed_get(app: Any, path: str, headers: dict[str, str]) -> Timed:
    """GET with a client of its own (safe in any thread) and time it."""
    started = time.monotonic()
    response = app.test_client().get(path, headers=headers)
    return Timed(response, started, time.monotonic())


@pytest.fixture
def spawn(app: Any) -> Iterator[Callable[..., Future[Timed]]]:
    """Start GETs in other threads: spawn(path, headers) returns a future of Timed."""
    pool = ThreadPoolExecutor(max_workers=8)
    yield lambda path, headers: pool.submit(timed_get, app, path, headers)
    pool.shutdown(wait=False, cancel_futures=True)  # a failed test must not hang here


def watch_headers(etag: str = '"1"', prefer: str = "wait=5") -> dict[str, str]:
    return {"If-None-Match": etag, "Prefer": prefer}


def waiting(app: Any) -> int:
    """Return how many requests wait on this process's change listener."""
    listener = current_worker(app).running()[1]
    return listener.waiting if listener is not None else 0


def wait_until(condition: Callable[[], Any], timeout: float = 5.0, what: str = "") -> None:
    """Poll `condition` until it holds, failing after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out after {timeout} s waiting for {what}"
        time.sleep(0.01)  # polling interval


def change(client: Any, configuration_id: str, **config: Any) -> dict[str, Any]:
    """Merge-patch the config and return the answered configuration."""
    response = client.patch(f"{API}/{configuration_id}", json={"config": config})
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def assert_woken(timed: Timed, body: dict[str, Any], prefer_applied: str) -> None:
    """Check a watcher was answered 200 with this body, its ETag and the applied wait."""
    response = timed.response
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.get_json() == body
    assert response.headers["ETag"] == f'"{body["version"]}"'
    assert response.headers["Cache-Control"] == "no-cache"
    assert response.headers["Preference-Applied"] == prefer_applied


def assert_not_modified(response: Any, version: int) -> None:
    assert response.status_code == 304
    assert response.get_data() == b""
    assert response.headers["ETag"] == f'"{version}"'


# (a), (d): a change wakes a waiting client at once


def test_a_change_wakes_the_watcher(app, client, configuration, path, spawn):
    watcher = spawn(path, watch_headers(prefer="wait=5"))
    wait_until(lambda: waiting(app) == 1, what="the watcher to wait")

    changed_at = time.monotonic()
    body = change(client, configuration["id"], n=1)

    timed = watcher.result(timeout=10)
    assert_woken(timed, body, "wait=5")
    assert body["version"] == 2
    assert timed.finished - changed_at < PROMPT
    assert waiting(app) == 0


def test_every_watcher_of_the_configuration_is_woken(app, client, configuration, spawn):
    paths = [f"{API}/{configuration['id']}", BY_NAME] * 3
    watchers = [spawn(path, watch_headers()) for path in paths]
    other = create_configuration(client, configuration["application_id"], "other")
    other_watcher = spawn(f"{API}/{other['id']}", watch_headers())
    wait_until(lambda: waiting(app) == len(paths) + 1, what="all watchers to wait")

    other_body = change(client, other["id"], unrelated=True)
    # Once the other configuration's watcher has its answer, the listener has handled
    # that notification: it must have left this configuration's watchers waiting.
    assert_woken(other_watcher.result(timeout=10), other_body, "wait=5")
    assert not any(watcher.done() for watcher in watchers)
    assert waiting(app) == len(paths)

    changed_at = time.monotonic()
    body = change(client, configuration["id"], n=1)
    for watcher in watchers:
        timed = watcher.result(timeout=10)
        assert_woken(timed, body, "wait=5")
        assert timed.finished - changed_at < PROMPT


# (b), (d): no change, the wait ends in 304


def test_no_change_ends_in_304_after_the_wait(client, configuration, path):
    started = time.monotonic()
    response = client.get(path, headers=watch_headers(prefer="wait=1"))
    took = time.monotonic() - started

    assert_not_modified(response, 1)
    assert response.headers["Preference-Applied"] == "wait=1"
    assert response.headers["Cache-Control"] == "no-cache"
    assert 0.99 <= took < 2.0


# (c): delivery is at least once: the ETag carries a change made between polls


def test_a_change_between_polls_is_seen_at_the_next_poll(client, configuration, path):
    first = client.get(path, headers=watch_headers(prefer="wait=1"))
    assert_not_modified(first, 1)

    change(client, configuration["id"], n=1)  # while the client is between polls
    body = change(client, configuration["id"], n=2)

    started = time.monotonic()
    second = client.get(path, headers=watch_headers('"1"', "wait=5"))
    assert time.monotonic() - started < IMMEDIATE
    assert second.status_code == 200
    assert second.get_json() == body
    assert second.headers["ETag"] == '"3"'

    third = client.get(path, headers=watch_headers('"3"', "wait=1"))
    assert_not_modified(third, 3)


def test_a_change_before_the_request_is_seen_at_once(client, configuration, path):
    body = change(client, configuration["id"], n=1)
    started = time.monotonic()
    response = client.get(path, headers=watch_headers('"1"', "wait=60"))
    assert time.monotonic() - started < IMMEDIATE
    assert response.status_code == 200
    assert response.get_json() == body


# (e): how Prefer is read


@pytest.mark.parametrize(
    "prefer, applied",
    [
        ("wait=0", "wait=1"),
        ("respond-async, WAIT = 1", "wait=1"),
        ('wait="1"; foo=bar', "wait=1"),
    ],
)
def test_a_short_wait_is_clamped_to_one_second(client, configuration, prefer, applied):
    started = time.monotonic()
    response = client.get(f"{API}/{configuration['id']}", headers=watch_headers(prefer=prefer))
    took = time.monotonic() - started
    assert_not_modified(response, 1)
    assert response.headers["Preference-Applied"] == applied
    assert 0.99 <= took < 2.0


@pytest.mark.parametrize(
    "prefer", ["wait=120", "wait=61", "wait=99999999999", "wait=" + "9" * 5000]
)
def test_a_long_wait_is_clamped_to_sixty_seconds(app, client, configuration, spawn, prefer):
    watcher = spawn(f"{API}/{configuration['id']}", watch_headers(prefer=prefer))
    wait_until(lambda: waiting(app) == 1 or watcher.done(), what="the watcher to wait")
    assert not watcher.done(), watcher.result().response.headers

    body = change(client, configuration["id"], n=1)  # ends the wait: no test waits 60 s

    assert_woken(watcher.result(timeout=10), body, "wait=60")


@pytest.mark.parametrize(
    "prefer", ["wait=abc", "wait=", "wait", "wait=-", "return=minimal", "waiting=5"]
)
def test_an_unreadable_wait_is_ignored(client, configuration, prefer):
    started = time.monotonic()
    response = client.get(f"{API}/{configuration['id']}", headers=watch_headers(prefer=prefer))
    assert time.monotonic() - started < IMMEDIATE
    assert_not_modified(response, 1)
    assert "Preference-Applied" not in response.headers


def test_without_if_none_match_prefer_is_ignored(client, configuration, path):
    started = time.monotonic()
    response = client.get(path, headers={"Prefer": "wait=5"})
    assert time.monotonic() - started < IMMEDIATE
    assert response.status_code == 200
    assert response.get_json() == configuration
    assert response.headers["ETag"] == '"1"'
    assert "Preference-Applied" not in response.headers


# (f): a waiting client holds no pool connection and blocks nobody


@pytest.fixture
def one_connection(app: Any, configuration: dict[str, Any]) -> None:
    """Rebuild the pool with a single connection: a waiter holding it would starve the rest."""
    current_worker(app).shutdown()
    app.config.update(DB_POOL_MIN=1, DB_POOL_MAX=1, DB_POOL_TIMEOUT=2)


def test_waiting_holds_no_connection_and_blocks_nobody(
    app, client, configuration, spawn, one_connection
):
    paths = [f"{API}/{configuration['id']}", BY_NAME, f"{API}/{configuration['id']}"]
    watchers = [spawn(path, watch_headers(prefer="wait=10")) for path in paths]
    wait_until(lambda: waiting(app) == 3, what="the watchers to wait")
    pool = get_pool(app)
    assert pool.maxconn == 1
    wait_until(lambda: pool.in_use == 0, what="the watchers to return their connections")

    other = create_configuration(client, configuration["application_id"], "other")
    for i in range(10):
        started = time.monotonic()
        read = client.get(BY_NAME if i % 2 else f"{API}/{configuration['id']}")
        assert read.status_code == 200
        assert time.monotonic() - started < IMMEDIATE
        change(client, other["id"], i=i)
        assert (pool.in_use, waiting(app)) == (0, 3)
    assert not any(watcher.done() for watcher in watchers)

    body = change(client, configuration["id"], n=1)
    for watcher in watchers:
        assert_woken(watcher.result(timeout=10), body, "wait=10")
    assert pool.in_use == 0


# (g): the watched configuration goes away


def test_deleting_the_watched_configuration_ends_the_wait_with_404(
    app, client, configuration, path, spawn
):
    watcher = spawn(path, watch_headers(prefer="wait=10"))
    wait_until(lambda: waiting(app) == 1, what="the watcher to wait")

    deleted_at = time.monotonic()
    assert client.delete(f"{API}/{configuration['id']}").status_code == 204

    timed = watcher.result(timeout=10)
    assert timed.finished - deleted_at < PROMPT
    assert timed.response.status_code == 404
    assert timed.response.mimetype == "application/problem+json"
    assert timed.response.get_json()["status"] == 404
    assert waiting(app) == 0


# (h): the listener survives losing its connection


def listener_backends(db: Any) -> set[int]:
    """Return the backend PIDs of change listeners on the test database."""
    with db.cursor() as cur:
        cur.execute(
            "SELECT pid FROM pg_stat_activity"
            " WHERE application_name = %s AND datname = current_database()",
            (LISTENER,),
        )
        return {row["pid"] for row in cur.fetchall()}


def terminate(db: Any, pids: set[int]) -> None:
    """End these backends (one of an earlier test's stopping listeners may be gone already)."""
    with db.cursor() as cur:
        cur.execute(
            "SELECT count(*) FILTER (WHERE pg_terminate_backend(pid)) AS done"
            " FROM unnest(%s::int[]) AS pid",
            (list(pids),),
        )
        assert cur.fetchone()["done"] >= 1


def connected_listener(app: Any, db: Any) -> tuple[Any, set[int]]:
    """Start this process's listener; return it once connected, with the listener backends."""
    listener = current_worker(app).listener
    wait_until(listener.connected.is_set, what="the listener to connect")
    wait_until(lambda: listener_backends(db), what="the listener in pg_stat_activity")
    return listener, listener_backends(db)


def test_the_listener_reconnects_by_itself(app, client, db, configuration, spawn):
    listener, old = connected_listener(app, db)

    terminate(db, old)

    def reconnected() -> bool:
        now = listener_backends(db)
        return listener.connected.is_set() and bool(now) and not now & old

    wait_until(reconnected, timeout=10, what="the listener to reconnect")
    watcher = spawn(f"{API}/{configuration['id']}", watch_headers())
    wait_until(lambda: waiting(app) == 1, what="the watcher to wait")
    changed_at = time.monotonic()
    body = change(client, configuration["id"], n=1)
    timed = watcher.result(timeout=10)
    assert_woken(timed, body, "wait=5")
    assert timed.finished - changed_at < 2.0


def test_a_change_while_the_listener_reconnects_is_not_missed(
    app, client, db, configuration, spawn
):
    _, old = connected_listener(app, db)
    watcher = spawn(f"{API}/{configuration['id']}", watch_headers(prefer="wait=10"))
    wait_until(lambda: waiting(app) == 1, what="the watcher to wait")

    terminate(db, old)
    changed_at = time.monotonic()
    body = change(client, configuration["id"], n=1)  # most likely before LISTEN is back

    timed = watcher.result(timeout=10)
    assert_woken(timed, body, "wait=10")
    assert timed.finished - changed_at < 2.0


def test_the_listener_reconnects_promptly_however_often_it_was_lost(app, db):
    # The wait between attempts doubles while connecting fails, but a connection that
    # listened and then dropped is a fresh loss: the next attempt comes after 0.1 s again,
    # not after the doubled waits of every loss before (3.2 s by the sixth).
    listener, _ = connected_listener(app, db)
    for loss in range(6):
        connects = listener.connects
        terminate(db, listener_backends(db))
        lost_at = time.monotonic()
        wait_until(lambda n=connects: listener.connects > n, what=f"reconnect #{loss + 1}")
        assert time.monotonic() - lost_at < 1.0, f"reconnect #{loss + 1} was slow"


# (i): 500 watchers on a real gunicorn, with plain reads served meanwhile

WATCHERS = 500
WAVE = 100  # watchers joining at once
PARK_DEADLINE = 30  # seconds for all of them to be parked
PLAIN_GETS = 50
LOAD_WAIT = 20  # seconds each watcher asks to wait


@dataclass
class Raw:
    """An HTTP/1.1 answer read off a socket, and when its last byte arrived."""

    status: int
    headers: dict[str, str]
    body: bytes
    finished: float


async def send(
    port: int, method: str, path: str, headers: dict[str, str], body: bytes = b""
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """Open a connection to 127.0.0.1 and send one request on it (the server then closes)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    lines = [f"{method} {path} HTTP/1.1", "Host: 127.0.0.1", "Connection: close"]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    if body:
        lines += ["Content-Type: application/json", f"Content-Length: {len(body)}"]
    writer.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body)
    await writer.drain()
    return reader, writer


async def receive(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, timeout: float
) -> Raw:
    """Read the whole answer (up to the server's close) and parse it."""
    try:
        raw = await asyncio.wait_for(reader.read(), timeout)
    finally:
        writer.close()
    finished = time.monotonic()
    head, _, body = raw.partition(b"\r\n\r\n")
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    headers = {}
    for line in header_lines:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    status = int(status_line.split()[1]) if status_line else 0
    return Raw(status, headers, body, finished)


async def exchange(
    port: int,
    method: str,
    path: str,
    headers: dict[str, str] | None = None,
    body: bytes = b"",
    timeout: float = 5.0,
) -> Raw:
    reader, writer = await send(port, method, path, headers or {}, body)
    return await receive(reader, writer, timeout)


async def until(condition: Callable[[], Any], timeout: float, what: str) -> float:
    """Poll without blocking the loop; return how long the condition took to hold."""
    started = time.monotonic()
    while not condition():
        assert time.monotonic() - started < timeout, f"no {what} after {timeout} s"
        await asyncio.sleep(0.05)  # polling interval
    return time.monotonic() - started


def quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def parked(server: Gunicorn) -> int:
    """Return how many requests the service says are waiting (its gauge, summed over workers)."""
    scrape = await exchange(server.port, "GET", "/metrics", timeout=3)
    found = re.search(rb"^watchers_waiting(?:\{[^}]*\})? ([0-9.e+]+)$", scrape.body, re.M)
    return int(float(found.group(1))) if found else 0


async def load_scenario(server: Gunicorn, configuration: dict[str, Any]) -> dict[str, Any]:
    """Park WATCHERS long polls, time plain GETs meanwhile, then one change; return figures."""
    by_id = f"{API}/{configuration['id']}"
    paths = [by_id, BY_NAME]
    watch = {"If-None-Match": '"1"', "Prefer": f"wait={LOAD_WAIT}"}
    sent: list[int] = []

    async def watcher(i: int) -> Raw | BaseException:
        try:
            reader, writer = await send(server.port, "GET", paths[i % 2], watch)
            sent.append(i)
            return await receive(reader, writer, LOAD_WAIT + 10)
        except (OSError, asyncio.TimeoutError, ValueError, IndexError) as exc:
            return exc

    figures: dict[str, Any] = {}

    # Clients join in waves of WAVE, as a fleet restarting would, each wave parked before
    # the next: a single burst of 500 first reads would measure pool contention instead.
    started = time.monotonic()
    tasks: list[asyncio.Task] = []
    figures["parked"] = 0
    figures["all_read_s"] = f"no server parking every watcher after {PARK_DEADLINE} s"
    while len(tasks) < WATCHERS and time.monotonic() - started < PARK_DEADLINE:
        if figures["parked"] >= len(tasks):
            tasks += [asyncio.create_task(watcher(i)) for i in range(len(tasks), len(tasks) + WAVE)]
        await asyncio.sleep(0.1)  # polling interval
        figures["parked"] = await parked(server)
    while figures["parked"] < WATCHERS and time.monotonic() - started < PARK_DEADLINE:
        await asyncio.sleep(0.1)  # polling interval
        figures["parked"] = await parked(server)
    if figures["parked"] >= WATCHERS:
        figures["all_read_s"] = time.monotonic() - started
    figures["all_sent_s"] = time.monotonic() - started
    figures["open"], figures["unread"] = server.unread_requests()
    figures["early"] = [t.result() for t in tasks if t.done()]  # answered before the change
    figures["threads"] = [server.threads(pid) for pid in server.worker_pids()]

    figures["gets"] = []
    for i in range(PLAIN_GETS):
        started = time.monotonic()
        try:
            answer = await exchange(server.port, "GET", paths[i % 2], timeout=3)
            figures["gets"].append((answer.status, answer.finished - started))
        except asyncio.TimeoutError:
            figures["gets"].append((0, math.inf))
            if sum(status == 0 for status, _ in figures["gets"]) >= 3:
                break  # keep the test bounded

    changed_at = time.monotonic()
    patch = json.dumps({"config": {"n": 1}}).encode()
    figures["patch"] = await exchange(server.port, "PATCH", by_id, body=patch)
    figures["watchers"] = await asyncio.gather(*tasks) if tasks else []
    figures["changed_at"] = changed_at
    return figures


def report(figures: dict[str, Any], watchers: list[Raw]) -> str:
    """Summarize the figures for the test output (and note delivery times in `figures`)."""
    delivery = [answer.finished - figures["changed_at"] for answer in watchers] or [math.inf]
    latencies = [seconds for _, seconds in figures["gets"]] or [math.inf]
    figures["delivery"] = delivery
    early = figures["early"]
    return (
        f"\n{WATCHERS} watchers: sent in {figures['all_sent_s']:.2f} s, all read by the server"
        f" after {figures['all_read_s']} (parked {figures['parked']}, open {figures['open']},"
        f" unread {figures['unread']}, answered early {[getattr(w, 'status', w) for w in early]},"
        f" threads per worker {figures['threads']})"
        f"\n{len(latencies)} plain GETs: p50 {quantile(latencies, 0.5) * 1000:.1f} ms,"
        f" max {max(latencies) * 1000:.1f} ms"
        f"\ndelivery after one change: p50 {quantile(delivery, 0.5) * 1000:.0f} ms,"
        f" p99 {quantile(delivery, 0.99) * 1000:.0f} ms, max {max(delivery) * 1000:.0f} ms"
    )


@pytest.mark.slow
def test_500_watchers_wait_while_reads_are_served(database_url, tmp_path):
    began = time.monotonic()
    # gunicorn's default worker count (2 x cores + 1), capped so that a many-core machine
    # stays within PostgreSQL's connections (each worker: a pool of 10 and a listener).
    workers = min(5, 2 * (os.cpu_count() or 1) + 1)
    env = {"AUTH_ENABLED": "false"}
    with running_gunicorn(
        database_url, tmp_path / "gunicorn.log", workers=workers, env=env
    ) as server:
        configuration = setup_over_http(server)
        figures = asyncio.run(load_scenario(server, configuration))
        watchers = [w for w in figures["watchers"] if isinstance(w, Raw)]
        failed = [w for w in figures["watchers"] if not isinstance(w, Raw) or w.status != 200]
        summary = report(figures, watchers)
        print(summary)
        log = server.log_tail()

    assert figures["patch"].status == 200, figures["patch"]
    assert isinstance(figures["all_read_s"], float), summary
    assert [status for status, _ in figures["gets"]] == [200] * PLAIN_GETS, summary
    assert max(seconds for _, seconds in figures["gets"]) < 1.0, summary
    assert not failed, f"{len(failed)} watchers failed, e.g. {failed[:3]}{summary}\n{log}"
    for answer in watchers:
        assert answer.headers["etag"] == '"2"'
        assert answer.headers["preference-applied"] == f"wait={LOAD_WAIT}"
        assert json.loads(answer.body)["config"] == {"n": 1}
    assert max(figures["delivery"]) < 10.0, summary
    assert time.monotonic() - began < 60


def setup_over_http(server: Gunicorn) -> dict[str, Any]:
    """Create application "billing" and its configuration "database" through the server."""
    conn = server.connection()
    try:
        conn.request(
            "POST",
            "/api/v1/applications",
            json.dumps({"name": "billing"}),
            {"Content-Type": "application/json"},
        )
        application = json.loads(conn.getresponse().read())
        body = {"application_id": application["id"], "name": "database", "config": {"n": 0}}
        conn.request("POST", API, json.dumps(body), {"Content-Type": "application/json"})
        response = conn.getresponse()
        assert response.status == 201
        return json.loads(response.read())
    finally:
        conn.close()


# A waiting request whose token is revoked or lowered ends with 401 / 403, never a change


@pytest.fixture
def guarded(make_app: Any, app_settings: dict[str, Any], db: Any) -> tuple[Any, dict[str, str]]:
    """An app with auth on, listening, and a reader token named `watcher`: (app, headers)."""
    application = make_app(**{**app_settings, "AUTH_ENABLED": True})
    assert current_worker(application).listener.connected.wait(5)
    secret = create_token(db, "watcher", "reader", "test")
    return application, {"Authorization": f"Bearer {secret}", **watch_headers(prefer="wait=10")}


def park(application: Any, path: str, headers: dict[str, str]) -> Future[Timed]:
    """Start a watcher in a thread of its own and return once it waits."""
    watcher = ThreadPoolExecutor(max_workers=1).submit(timed_get, application, path, headers)
    wait_until(lambda: waiting(application) == 1, what="the watcher to wait")
    return watcher


def test_a_revoked_token_ends_the_wait_with_401(guarded, client, configuration, path):
    application, headers = guarded
    watcher = park(application, path, headers)

    revoked_at = time.monotonic()
    result = application.test_cli_runner().invoke(args=["tokens", "revoke", "watcher"])
    assert result.exit_code == 0, result.output
    change(client, configuration["id"], password="rotated")

    timed = watcher.result(timeout=10)
    assert timed.response.status_code == 401, timed.response.get_data(as_text=True)
    assert "rotated" not in timed.response.get_data(as_text=True)
    assert timed.finished - revoked_at < PROMPT


def test_a_role_change_makes_the_watcher_check_again_and_wait_on(
    guarded, client, db, configuration
):
    # GET needs reader, the least role, so no role change can forbid a watcher: it is
    # woken, checks its token again, and waits on for the change it asked about.
    application, headers = guarded
    watcher = park(application, f"{API}/{configuration['id']}", headers)
    with db.cursor() as cur:
        cur.execute("UPDATE api_tokens SET role = 'writer' WHERE name = 'watcher'")
    time.sleep(0.2)  # the NOTIFY has woken it by now
    assert not watcher.done()
    assert waiting(application) == 1

    body = change(client, configuration["id"], n=1)
    assert_woken(watcher.result(timeout=10), body, "wait=10")
