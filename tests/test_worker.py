"""The worker object: what it starts on first use, what a fork drops, and its one shutdown."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from typing import Any

from app.worker import current_worker


def _threads(name: str) -> list[threading.Thread]:
    return [thread for thread in threading.enumerate() if thread.name == name]


def test_nothing_starts_until_first_use(make_app: Callable[..., Any]) -> None:
    worker = current_worker(make_app())
    assert worker.running() == (None, None)
    assert len(worker.cache) == 0


def test_shutdown_stops_the_listener_closes_the_pool_and_can_start_again(
    make_app: Callable[..., Any], tmp_path: Any
) -> None:
    application = make_app()
    worker = current_worker(application)
    application.extensions["metrics"].multiprocess_dir = str(tmp_path)  # as under gunicorn
    assert application.test_client().get("/readyz").status_code == 200  # pool and sampler
    pool, listener = worker.pool, worker.listener
    assert listener.connected.wait(5)
    sampler = worker._sampler
    assert sampler is not None and sampler.is_alive()

    worker.shutdown()

    assert worker.running() == (None, None)
    assert pool.closed
    assert not listener.connected.is_set() and listener.stopping
    assert not sampler.is_alive()
    assert worker.pool is not pool  # a later use starts afresh
    worker.shutdown()


def test_a_forked_child_starts_from_nothing_and_leaves_the_parent_alone(
    make_app: Callable[..., Any],
) -> None:
    worker = current_worker(make_app())
    assert worker.listener.connected.wait(5)
    worker.cache.put(("id", "x"), "value", ("x",), 10, worker.cache.generation)
    reader, writer = os.pipe()
    child = os.fork()
    if child == 0:  # pragma: no cover - runs in the child, which never returns to pytest
        fresh = worker.running() == (None, None) and len(worker.cache) == 0
        os.write(writer, b"fresh" if fresh and worker.pid == os.getpid() else b"stale")
        os._exit(0)
    os.close(writer)
    with os.fdopen(reader, "rb") as stream:
        report = stream.read()
    os.waitpid(child, 0)

    assert report == b"fresh"
    assert worker.pid == os.getpid() and worker.running()[1] is not None
    assert worker.cache.get(("id", "x")) == "value"
    worker.shutdown()
