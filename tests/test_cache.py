"""The per-worker read cache: used while the listener is connected, forgotten on change.

Two apps stand for two gunicorn workers (own pool, own listener, own cache). Changes are
made through the API of one of them or straight in SQL; the other must see each change
within a second, through the NOTIFY the change sent.
"""

from __future__ import annotations

import os
import threading
import time
from contextlib import ExitStack
from typing import Any

import pytest

from app.live.cache import ReadCache
from app.live.listener import CHANNEL, NAMES, TOKENS
from app.web.tokens import create_token
from app.worker import current_worker
from tests.helpers import (
    CACHE_DEADLINE,
    assert_problem,
    create_application,
    create_configuration,
    listening,
    scrape,
    within_deadline,
)

BOTH_PATHS = True  # run with FAST_PATH on and off: every answer must be alike
API = "/api/v1"


def cache_of(application: Any) -> ReadCache:
    return current_worker(application).cache


@pytest.fixture
def workers(app: Any, make_app: Any, app_settings: dict[str, Any]) -> tuple[Any, Any]:
    other = make_app(**app_settings)
    listening(app, other)
    return app, other


@pytest.fixture
def stored(workers: tuple[Any, Any], db: Any) -> dict[str, Any]:
    """A configuration read by id and by name in both workers, so both have cached it."""
    client = workers[0].test_client()
    application = create_application(client, "billing")
    configuration = create_configuration(client, application["id"], "db", {"pool": 5})
    paths = {
        "id": f"{API}/configurations/{configuration['id']}",
        "name": f"{API}/applications/by-name/billing/configurations/db",
    }

    # The creation's own NOTIFY would forget what is read before it comes by.
    heard_every_change(db, *workers)
    for worker in workers:
        for path in paths.values():
            assert worker.test_client().get(path).get_json()["config"] == {"pool": 5}
        assert len(cache_of(worker)) == 2
    return {**configuration, "paths": paths, "application": application}


def heard_every_change(db: Any, *apps: Any) -> None:
    """Wait until each app's listener has handled every NOTIFY committed so far.

    PostgreSQL delivers notifications in commit order, so once a marker sent now has
    arrived, everything committed before it has been handled too.
    """
    marker = f"marker-{os.urandom(4).hex()}"
    with ExitStack() as stack:
        heard = [
            stack.enter_context(current_worker(app).listener.subscribe(marker)) for app in apps
        ]
        with db.cursor() as cur:
            cur.execute("SELECT pg_notify(%s, %s)", (CHANNEL, f"{marker} 0"))
        for event in heard:
            assert event.wait(CACHE_DEADLINE), "the marker NOTIFY did not arrive in time"


def version_in(worker: Any, path: str) -> int | None:
    response = worker.test_client().get(path)
    return response.get_json()["version"] if response.status_code == 200 else None


def write_unannounced(db: Any, statement: str, params: dict[str, Any]) -> None:
    """Change a row with triggers off (as a superuser may): no version, no NOTIFY."""
    with db.cursor() as cur:
        cur.execute("SET session_replication_role = replica")
        try:
            cur.execute(statement, params)
        finally:
            cur.execute("RESET session_replication_role")


def test_a_write_is_read_at_once_where_made_and_within_a_second_elsewhere(workers, stored):
    here, there = workers
    response = here.test_client().put(
        stored["paths"]["id"], json={"name": "db", "config": {"pool": 6}}
    )
    assert response.status_code == 200 and response.headers["ETag"] == '"2"'
    for path in stored["paths"].values():
        assert here.test_client().get(path).get_json()["config"] == {"pool": 6}  # no wait
    for path in stored["paths"].values():
        within_deadline(lambda path=path: version_in(there, path) == 2)
        assert there.test_client().get(path).get_json()["config"] == {"pool": 6}


def test_a_write_in_sql_reaches_every_worker(workers, stored, db):
    with db.cursor() as cur:  # the trigger writes version 2 and sends the NOTIFY
        cur.execute(
            "UPDATE configurations SET config = '{\"pool\": 7}', version = 2 WHERE id = %(id)s",
            {"id": stored["id"]},
        )
    for worker in workers:
        for path in stored["paths"].values():
            within_deadline(lambda worker=worker, path=path: version_in(worker, path) == 2)


def test_cached_answers_are_served_and_no_cache_reads_the_database(workers, stored, db):
    write_unannounced(
        db, "UPDATE configurations SET comments = 'quiet' WHERE id = %(id)s", {"id": stored["id"]}
    )
    here = workers[0].test_client()
    path = stored["paths"]["id"]
    assert here.get(path).get_json()["comments"] is None  # the cached answer: no NOTIFY came
    fresh = here.get(path, headers={"Cache-Control": "no-cache"})
    assert fresh.get_json()["comments"] == "quiet"
    assert here.get(path).get_json()["comments"] == "quiet"  # and it replaced the cached one


def test_read_cache_off_reads_the_database_every_time(make_app, app_settings, db):
    application = make_app(**{**app_settings, "READ_CACHE": False})
    listening(application)
    client = application.test_client()
    created = create_configuration(client, create_application(client)["id"])
    path = f"{API}/configurations/{created['id']}"
    assert client.get(path).status_code == 200
    write_unannounced(
        db, "UPDATE configurations SET comments = 'seen' WHERE id = %(id)s", {"id": created["id"]}
    )
    assert client.get(path).get_json()["comments"] == "seen"
    assert len(cache_of(application)) == 0
    assert lookups(client) == {"hit": 0, "miss": 0, "bypass": 2}


def lookups(client: Any) -> dict[str, float]:
    samples = scrape(client)
    return {
        result: samples.get(("read_cache_lookups_total", (("result", result),)), 0.0)
        for result in ("hit", "miss", "bypass")
    }


def test_lookups_are_counted_and_the_cache_size_shown(workers, stored):
    here = workers[0]
    client = here.test_client()
    path = stored["paths"]["id"]
    before = lookups(client)
    assert client.get(path).status_code == 200  # cached by the fixture
    assert client.get(path, headers={"Cache-Control": "no-cache"}).status_code == 200
    cache_of(here).forget(stored["id"])
    assert client.get(path).status_code == 200  # loaded again...
    assert client.get(path).status_code == 200  # ...and kept
    after = lookups(client)
    assert {result: after[result] - before[result] for result in after} == {
        "hit": 2,
        "miss": 1,
        "bypass": 1,
    }
    samples = scrape(client)
    assert samples[("read_cache_entries", ())] == len(cache_of(here)) == 1  # by name: forgotten
    assert samples[("read_cache_bytes", ())] == cache_of(here).size > 0


def test_deletes_renames_and_truncates_are_forgotten(workers, stored, db):
    here, there = workers
    by_name = stored["paths"]["name"]
    renamed = here.test_client().patch(
        f"{API}/applications/{stored['application']['id']}", json={"name": "payments"}
    )
    assert renamed.status_code == 200
    assert_problem(here.test_client().get(by_name), 404)  # at once where renamed
    within_deadline(lambda: version_in(there, by_name) is None)
    moved = f"{API}/applications/by-name/payments/configurations/db"
    for worker in workers:
        assert version_in(worker, moved) == 1

    assert here.test_client().delete(stored["paths"]["id"]).status_code == 204
    assert_problem(here.test_client().get(stored["paths"]["id"]), 404)
    within_deadline(lambda: version_in(there, stored["paths"]["id"]) is None)

    other = create_configuration(here.test_client(), stored["application"]["id"], "cache")
    path = f"{API}/configurations/{other['id']}"
    assert version_in(there, path) == 1
    with db.cursor() as cur:
        cur.execute("TRUNCATE configurations CASCADE")
    within_deadline(lambda: version_in(there, path) is None)


def test_an_application_deleted_with_its_configurations_is_forgotten(workers, stored):
    here, there = workers
    application = f"{API}/applications/{stored['application']['id']}"
    assert here.test_client().delete(f"{application}?cascade=true").status_code == 204
    for path in stored["paths"].values():
        assert_problem(here.test_client().get(path), 404)
        within_deadline(lambda path=path: version_in(there, path) is None)


def test_tokens_are_cached_and_a_revocation_reaches_every_worker(make_app, app_settings, db):
    workers = [make_app(**{**app_settings, "AUTH_ENABLED": True}) for _ in range(2)]
    # Made before the listeners listen: a late NOTIFY of its creation cannot then forget
    # the token list between the read below and the check that it was kept.
    headers = {"Authorization": f"Bearer {create_token(db, 'ci', 'writer', 'test')}"}
    listening(*workers)
    for worker in workers:
        assert worker.test_client().get(f"{API}/applications", headers=headers).status_code == 200
        assert ("tokens",) in cache_of(worker)._entries

    def status(worker: Any) -> int:
        return (
            worker.test_client()
            .post(f"{API}/applications", json={"name": f"n{time.monotonic_ns()}"}, headers=headers)
            .status_code
        )

    with db.cursor() as cur:
        cur.execute("UPDATE api_tokens SET role = 'reader' WHERE name = 'ci'")
    for worker in workers:
        within_deadline(lambda worker=worker: status(worker) == 403)
    with db.cursor() as cur:
        cur.execute("UPDATE api_tokens SET revoked_at = now() WHERE name = 'ci'")
    for worker in workers:
        within_deadline(lambda worker=worker: status(worker) == 401)


def test_a_lost_listener_empties_the_cache_and_reads_go_to_the_database(workers, stored, db):
    here = workers[0]
    worker = current_worker(here)
    listener = worker.listener
    with db.cursor() as cur:
        cur.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
            " WHERE application_name = 'config-service-listener' AND pid <> pg_backend_pid()"
            " AND datname = current_database()"  # not the listeners of other test sessions
        )
    within_deadline(lambda: not listener.connected.is_set() or len(worker.cache) == 0)
    write_unannounced(
        db, "UPDATE configurations SET comments = 'missed' WHERE id = %(id)s", {"id": stored["id"]}
    )
    # Disconnected, or reconnected since: either way the answer comes from the database.
    assert here.test_client().get(stored["paths"]["id"]).get_json()["comments"] == "missed"
    assert listener.connected.wait(5)


# The cache itself.


def test_a_read_begun_before_a_change_is_not_stored():
    cache = ReadCache(1 << 20)
    generation = cache.generation  # a miss notes this, then asks the database...
    cache.forget("c1")  # ...and meanwhile a change to c1 is heard
    cache.put(("id", "c1"), "old", ("c1",), 3, generation)
    assert cache.get(("id", "c1")) is None
    cache.put(("id", "c1"), "new", ("c1",), 3, cache.generation)
    assert cache.get(("id", "c1")) == "new"


def test_a_read_begun_before_a_reconnect_is_not_stored_after_it():
    # The listener clears the cache when its connection drops and again once it listens
    # anew: a read begun before a change nobody heard must not be kept after either.
    cache = ReadCache(1 << 20)
    generation = cache.generation  # a miss notes this, then asks the database...
    cache.clear()  # ...and meanwhile the listener reconnected (a change may have gone unheard)
    cache.put(("id", "c1"), "old", ("c1",), 3, generation)
    assert cache.get(("id", "c1")) is None and len(cache) == 0


def test_forget_drops_every_key_of_an_owner_and_only_those():
    cache = ReadCache(1 << 20)
    cache.put(("id", "c1"), "a", ("c1",), 1, 0)
    cache.put(("name", "app", "x"), "a", ("c1", NAMES), 1, 0)
    cache.put(("id", "c2"), "b", ("c2",), 1, 0)
    cache.put(("token", b"h"), {"role": "reader"}, (TOKENS,), 1, 0)
    cache.forget(NAMES)
    assert cache.get(("name", "app", "x")) is None and cache.get(("id", "c1")) == "a"
    cache.forget("c1")
    assert cache.get(("id", "c1")) is None
    assert cache.get(("id", "c2")) == "b" and cache.get(("token", b"h")) == {"role": "reader"}
    cache.forget(TOKENS)
    assert len(cache) == 1
    cache.clear()
    assert len(cache) == 0 and cache.size == 0


def test_the_cache_stays_within_its_bytes_oldest_first():
    cache = ReadCache(3000)
    for number in range(10):
        cache.put(("id", f"c{number}"), number, (f"c{number}",), 800, cache.generation)
    assert cache.size <= 3000
    assert [cache.get(("id", f"c{number}")) for number in range(10)][-3:] == [7, 8, 9]
    assert cache.get(("id", "c0")) is None
    cache.put(("id", "big"), "x", ("big",), 5000, cache.generation)  # larger than it all
    assert cache.get(("id", "big")) is None and cache.get(("id", "c9")) == 9
    cache.forget("c9")
    assert cache.size == 2 * (800 + 200) and cache._keys_of.keys() == {"c7", "c8"}


def test_concurrent_stores_and_forgets_keep_the_books_straight():
    cache = ReadCache(50_000)

    def store(worker: int) -> None:
        for number in range(2000):
            owner = f"c{number % 37}"
            cache.put((worker, number), number, (owner, NAMES), 100, cache.generation)
            if number % 7 == 0:
                cache.forget(owner)

    threads = [threading.Thread(target=store, args=(worker,)) for worker in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    kept = sum(300 for _ in cache._entries)
    assert cache.size == kept <= 50_000
    assert set().union(*cache._keys_of.values()) == set(cache._entries)


def waiting_for_load(cache: ReadCache, key: Any, count: int) -> None:
    """Poll until `count` threads wait on the load of `key` (the Event's waiter list)."""
    loading = cache._loading[key]
    deadline = time.monotonic() + 5
    while len(loading._cond._waiters) < count:  # type: ignore[attr-defined]
        assert time.monotonic() < deadline, "the threads never waited for the load"
        time.sleep(0.001)  # polling interval


def test_threads_missing_one_key_together_wait_for_one_load():
    cache = ReadCache(1 << 20)
    started, release = threading.Event(), threading.Event()
    loads: list[int] = []

    def load() -> str:
        loads.append(1)
        started.set()
        release.wait(5)
        return "fresh"

    results: list[str] = []

    def read() -> None:
        results.append(cache.fill(("id", "c1"), load, lambda _: ("c1",), lambda _: 5))

    leader = threading.Thread(target=read)
    leader.start()
    assert started.wait(5)
    followers = [threading.Thread(target=read) for _ in range(20)]
    for thread in followers:
        thread.start()
    waiting_for_load(cache, ("id", "c1"), 20)
    release.set()
    for thread in [leader, *followers]:
        thread.join(5)
    assert results == ["fresh"] * 21 and len(loads) == 1


def test_a_waiter_loads_for_itself_when_the_shared_load_was_outdated():
    cache = ReadCache(1 << 20)
    started, release = threading.Event(), threading.Event()
    answers = iter(["before the change", "after the change"])

    def load() -> str:
        started.set()
        release.wait(5)
        return next(answers)

    results: list[str] = []
    leader = threading.Thread(
        target=lambda: results.append(cache.fill("k", load, lambda _: ("c1",), lambda _: 1))
    )
    leader.start()
    assert started.wait(5)
    cache.forget("c1")  # the change arrives while the first load is on its way
    follower = threading.Thread(
        target=lambda: results.append(cache.fill("k", load, lambda _: ("c1",), lambda _: 1))
    )
    follower.start()
    waiting_for_load(cache, "k", 1)
    release.set()
    leader.join(5)
    follower.join(5)
    assert sorted(results) == ["after the change", "before the change"]
    assert cache.get("k") == "after the change"
