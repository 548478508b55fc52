"""Time a cached resolved GET (?environment=) against a cached plain GET, in process.

    .venv/bin/python -m bench.resolved postgresql://postgres@127.0.0.1:5432/postgres [N]

Makes a throwaway database on that server (dropped at the end), migrates it, writes one
configuration with a staging overlay, then times N GETs of each kind through the Flask
test client, in alternating rounds so that drift hits both alike, and prints the medians
per request and their ratio. Both reads are served from the worker's read cache (the
listener is connected first); the ratio is what a resolved read costs over a plain one.
Production defaults: auth on (an admin token on every request), LOG_LEVEL=INFO.
"""

from __future__ import annotations

import statistics
import sys
import time
import uuid
from typing import Any

import psycopg2
from psycopg2.extensions import make_dsn

from app import create_app, migrations
from app.db import transaction
from app.settings import PROJECT_ROOT
from app.web.tokens import create_token
from app.worker import current_worker

ROUNDS = 200
CONFIG = {"host": "db1", "pool": {"max": 20, "min": 1}, "flags": {f"f{i}": i for i in range(50)}}


def _database(server: str, name: str, statement: str) -> None:
    conn = psycopg2.connect(server)
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute(statement.format(name))
    conn.close()


def _seed(client: Any) -> str:
    application = client.post("/api/v1/applications", json={"name": "billing"}).get_json()
    body = {"application_id": application["id"], "name": "database", "config": CONFIG}
    configuration = client.post("/api/v1/configurations", json=body).get_json()
    client.post("/api/v1/environments", json={"name": "staging"})
    overlay = {"patch": {"host": "db-staging", "pool": {"min": None}}}
    client.put(f"/api/v1/configurations/{configuration['id']}/environments/staging", json=overlay)
    return configuration["id"]


def _time(client: Any, url: str, n: int) -> float:
    started = time.perf_counter()
    for _ in range(n):
        response = client.get(url)
    assert response.status_code == 200
    return (time.perf_counter() - started) / n


def main(server: str, n: int) -> None:
    name = f"cs_bench_{uuid.uuid4().hex[:12]}"
    _database(server, name, "CREATE DATABASE {}")
    app = None
    try:
        dsn = make_dsn(server, dbname=name)
        migrations.migrate(dsn, PROJECT_ROOT / "app" / "migrations")
        app = create_app({"DATABASE_URL": dsn, "LOG_LEVEL": "INFO"})
        with app.app_context(), transaction() as conn:
            secret = create_token(conn, "bench", "admin", actor="bench")
        client = app.test_client()
        client.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {secret}"
        configuration_id = _seed(client)
        assert current_worker(app).listener.connected.wait(5), "the listener did not connect"
        plain = f"/api/v1/configurations/{configuration_id}"
        resolved = f"{plain}?environment=staging"
        _time(client, plain, n // ROUNDS), _time(client, resolved, n // ROUNDS)  # warm up
        times: dict[str, list[float]] = {"plain": [], "resolved": []}
        for _ in range(ROUNDS):
            times["plain"].append(_time(client, plain, n // ROUNDS))
            times["resolved"].append(_time(client, resolved, n // ROUNDS))
        medians = {kind: statistics.median(values) for kind, values in times.items()}
        for kind, seconds in medians.items():
            print(f"{kind:9} GET: {seconds * 1e6:7.1f} µs per request (median of {ROUNDS} rounds)")
        print(f"resolved / plain: {medians['resolved'] / medians['plain']:.3f}")
        metrics = client.get("/metrics").get_data(as_text=True).splitlines()
        print(*(line for line in metrics if line.startswith("read_cache_lookups_total")), sep="\n")
    finally:
        if app is not None:
            current_worker(app).shutdown()
        _database(server, name, "DROP DATABASE IF EXISTS {} WITH (FORCE)")


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 20_000)
