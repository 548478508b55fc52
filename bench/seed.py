"""Create and seed the benchmark database in SQL (COPY + INSERT ... SELECT), not over HTTP."""

from __future__ import annotations

import io
import os
import random
import subprocess
import sys
import time
from contextlib import closing
from dataclasses import dataclass

import psycopg2
from psycopg2 import sql
from psycopg2.extensions import make_dsn

from app import migrations
from app.settings import PROJECT_ROOT

CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
APPLICATIONS = 100
BATCH = 100_000
RESERVED = 257  # configurations kept out of the read cases: 1 watched, the rest written
# ~1 KB of JSON per configuration; deterministic in the row number.
CONFIG = """jsonb_build_object(
  'service', 'svc-' || s.seq, 'replicas', s.seq %% 7 + 1, 'region', 'eu-west-' || s.seq %% 3,
  'database', jsonb_build_object('host', 'db' || s.seq %% 13 || '.internal', 'port', 5432,
      'pool', jsonb_build_object('min', 2, 'max', 20), 'timeout_ms', 2500),
  'features', jsonb_build_array('search', 'export', 'beta-' || s.seq %% 5),
  'limits', jsonb_build_object('rps', 100 + s.seq %% 900, 'burst', 50),
  'blob', repeat(md5(s.seq::text), 24))"""
# One batch of configurations: the first `big` rows go to application 0, the rest round-robin.
INSERT_CONFIGURATIONS = f"""
INSERT INTO configurations
    (id, application_id, name, comments, config, version, created_at, updated_at)
SELECT s.id, a.id, 'cfg-' || lpad(s.seq::text, 7, '0'), 'seeded by the benchmark', {CONFIG},
       1, now(), now()
FROM bench_ids s JOIN bench_apps a ON a.seq = CASE WHEN s.seq < %(big)s THEN 0
                                                ELSE 1 + (s.seq - %(big)s) %% %(rest)s END
WHERE s.seq >= %(lo)s AND s.seq < %(hi)s
"""
# Exactly the row the history trigger writes for an insert (version 1, at updated_at).
INSERT_VERSIONS = """
INSERT INTO configuration_versions (configuration_id, version, name, comments, config, created_at)
SELECT id, version, name, comments, config, updated_at FROM configurations
"""
# Some seeded rows with their application's name (for the target files), in seq order.
SELECT_ROWS = """
SELECT s.seq, c.id, a.name AS app, c.name FROM bench_ids s
JOIN configurations c ON c.id = s.id JOIN applications a ON a.id = c.application_id
WHERE s.seq = ANY(%(seqs)s) ORDER BY s.seq
"""


def ulid(ms: int, rng: random.Random) -> str:
    """Return a ULID (26 Crockford characters, first 0-7) for a time and 80 random bits."""
    value = (ms << 80) | rng.getrandbits(80)
    return "".join(CROCKFORD[(value >> shift) & 31] for shift in range(125, -1, -5))


@dataclass
class Seeded:
    dsn: str
    reads: list[tuple[int, str, str, str]]  # sampled (seq, id, application name, name)
    reserved: list[tuple[int, str, str, str]]  # the watched one first, then the written ones
    big_app_id: str
    big_count: int
    deep_cursor_id: str  # the id just before the deepest list page of application 0
    depth: int
    seconds: float
    server: str = ""  # PostgreSQL's version and where it listens


def admin(server_dsn: str) -> closing:
    """Open an autocommit connection (closed on leaving the block)."""
    conn = psycopg2.connect(server_dsn)
    conn.autocommit = True
    return closing(conn)


def drop(server_dsn: str, database: str) -> None:
    """Drop the benchmark database (its sessions too)."""
    with admin(server_dsn) as conn, conn.cursor() as cur:
        query = sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)")
        cur.execute(query.format(sql.Identifier(database)))


def create(server_dsn: str, database: str, size: int, sample: int, limit: int) -> Seeded:
    """Recreate the database, run the real migrations, and seed `size` configurations."""
    started = time.monotonic()
    drop(server_dsn, database)
    with admin(server_dsn) as conn, conn.cursor() as cur:
        cur.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(database)))
    dsn = make_dsn(server_dsn, dbname=database)
    migrations.migrate(dsn, PROJECT_ROOT / "migrations")
    big = size // 5  # application 0 holds a fifth: deep list pages (100 k at size 500 k+)
    depth = min(100_000, big - limit)  # ids grow with seq: app 0's k-th item is seq k
    seqs = random.Random(7).sample(range(size - RESERVED), min(sample, size - RESERVED))
    with closing(psycopg2.connect(dsn)) as conn, conn, conn.cursor() as cur:
        _load_ids(cur, size)
        # replica role: no trigger and FK check per row; the versions are written in bulk below
        cur.execute("SET session_replication_role = replica")
        for lo in range(0, size, BATCH):
            params = {"big": big, "rest": APPLICATIONS - 1, "lo": lo, "hi": lo + BATCH}
            cur.execute(INSERT_CONFIGURATIONS, params)
            print(f"seed: {min(lo + BATCH, size)}/{size} configurations", file=sys.stderr)
        cur.execute(INSERT_VERSIONS)
        cur.execute("SET session_replication_role = origin")
        cur.execute(SELECT_ROWS, {"seqs": seqs})
        reads = cur.fetchall()
        cur.execute(SELECT_ROWS, {"seqs": list(range(size - RESERVED, size))})
        reserved = cur.fetchall()
        cur.execute("SELECT version(), inet_server_addr(), inet_server_port()")
        version, host, port = cur.fetchone()
        cur.execute("SELECT id FROM bench_apps WHERE seq = 0")
        big_app_id = cur.fetchone()[0]
        cur.execute("SELECT id FROM bench_ids WHERE seq = %(seq)s", {"seq": depth - 1})
        deep = cur.fetchone()[0]
    with admin(dsn) as conn, conn.cursor() as cur:
        cur.execute("VACUUM ANALYZE")
    random.Random(8).shuffle(reads)  # seq order would walk the id index in order
    elapsed = time.monotonic() - started
    where = f"TCP {host}:{port}" if host else "a unix socket"
    server = f"{version.split(' on ')[0]} over {where}"
    return Seeded(dsn, reads, reserved, big_app_id, big, deep, depth, elapsed, server)


def _load_ids(cur, size: int) -> None:
    """COPY the applications and the configuration ids (ULIDs made here, in id order)."""
    rng = random.Random(6)
    base = int(time.time() * 1000) - size - 86_400_000
    cur.execute("CREATE TEMP TABLE bench_ids (seq integer PRIMARY KEY, id text NOT NULL)")
    cur.execute("CREATE TEMP TABLE bench_apps (seq integer PRIMARY KEY, id text NOT NULL)")
    apps = [(0, ulid(base - 1000, rng), "bench-big")]
    apps += [(n, ulid(base - 1000 + n, rng), f"bench-app-{n:03d}") for n in range(1, APPLICATIONS)]
    cur.copy_from(io.StringIO("".join(f"{s}\t{i}\n" for s, i, _ in apps)), "bench_apps")
    cur.copy_from(
        io.StringIO("".join(f"{i}\t{n}\tbenchmark\n" for _, i, n in apps)),
        "applications",
        columns=("id", "name", "comments"),
    )
    ids = io.StringIO("".join(f"{seq}\t{ulid(base + seq, rng)}\n" for seq in range(size)))
    cur.copy_from(ids, "bench_ids")
    cur.execute("ANALYZE bench_ids")


def writer_token(dsn: str, auth: bool) -> str | None:
    """Create a writer token with `flask tokens create` (its secret is the last line)."""
    if not auth:
        return None
    env = {**os.environ, "DATABASE_URL": dsn, "DATABASE_LISTEN_URL": dsn, "AUTH_ENABLED": "true"}
    flask = [sys.executable, "-m", "flask", "--app", "wsgi", "tokens", "create", "bench-writer"]
    out = subprocess.run(
        [*flask, "--role", "writer"], cwd=PROJECT_ROOT, env=env, check=True,
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    return out.stdout.strip().splitlines()[-1]
