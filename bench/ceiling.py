"""The ceiling, and a naive reference, served like the real app.

`gunicorn -c gunicorn.conf.py bench.ceiling:app` gives them the same worker
class, workers and threads as the service. /ceiling is an empty Flask endpoint (no
database, auth, logging or metrics): the framework's ceiling. /naive/<id> is the plainest
Flask + psycopg2 read (a pooled connection, one SELECT, the jsonb as text): what a
database round trip costs before any of the service's features.
"""

from __future__ import annotations

import os
import queue
import threading

import psycopg2
from flask import Flask, Response, abort

app = Flask(__name__)
POOL_SIZE = 2  # per worker; PostgreSQL's default max_connections (100) is shared with the app
SELECT = "SELECT config::text FROM configurations WHERE id = %s"
_idle: queue.LifoQueue = queue.LifoQueue()
_made: list[int] = [0]
_lock = threading.Lock()


@app.get("/healthz")
@app.get("/ceiling")
def ceiling():
    """Answer a constant JSON object."""
    return {"status": "ok"}


def _borrow():
    """Take an idle connection, open one while fewer than POOL_SIZE exist, else wait."""
    try:
        return _idle.get_nowait()
    except queue.Empty:
        pass
    with _lock:
        make = _made[0] < POOL_SIZE
        _made[0] += make
    if not make:
        return _idle.get(timeout=10)
    conn = psycopg2.connect(os.environ["DATABASE_URL"])  # in the worker, after the fork
    conn.autocommit = True
    return conn


@app.get("/naive/<configuration_id>")
def naive(configuration_id: str):
    """Answer one configuration's config, read with one SELECT (no auth, no schema)."""
    conn = _borrow()
    try:
        with conn.cursor() as cur:
            cur.execute(SELECT, (configuration_id,))
            row = cur.fetchone()
    finally:
        _idle.put(conn)
    if row is None:
        abort(404)
    return Response(row[0], mimetype="application/json")
