"""The cases: what each one sends, the answer it must get, and how it is run."""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from dataclasses import dataclass, field
from pathlib import Path

from app.api.common import encode_cursor
from bench import servers, watchers
from bench.load import Load, Result, drive
from bench.seed import Seeded
from tests.servers import Gunicorn

ORDER = (
    "naive", "get_id", "get_name", "revalidate", "get_id_spread", "list_first", "list_deep", "put",
    "watch", "watch_many",
)  # fmt: skip
MANY = 1000  # configurations in each POST /api/v1/watch of the watch_many case
API = "/api/v1/configurations"
LIMIT = 50  # list page size (the API's default)
# Current version of each configuration a PUT connection owns (the ETag it starts from).
SELECT_VERSIONS = "SELECT id, name, version FROM configurations WHERE id = ANY(%(ids)s) ORDER BY id"


@dataclass
class Context:
    args: argparse.Namespace
    wrk: str | None
    app: Gunicorn
    ceiling: Gunicorn
    seeded: Seeded
    files: dict[str, Path]
    folder: Path
    auth: dict[str, str] = field(default_factory=dict)

    def label(self, case: str) -> str:
        depth = f"{self.seeded.depth:,}"
        watchers = f"{self.args.watchers:,}"
        return {
            "ceiling": "ceiling: empty Flask endpoint", "get_id": "GET by id",
            "naive": "reference: naive Flask + psycopg2 GET by id",
            "get_name": "GET by name", "revalidate": "GET by name, If-None-Match (304)",
            "get_id_spread": f"GET by id, spread over {len(self.seeded.reads):,} (cache misses)",
            "list_first": "list page, depth 0", "list_deep": f"list page, depth {depth}",
            "put": "PUT with If-Match",
            "watch": f"GET by name at {self.args.watch_rate:,} req/s, {watchers} watchers parked",
            "watch_many": f"GET by name at {self.args.watch_rate:,} req/s, "
            f"{self.args.watch_many_clients:,} POST /watch of {MANY:,} configurations parked",
            "soak": f"soak: GET by name for {self.args.soak:g} s",
        }[case]  # fmt: skip


def write_targets(seeded: Seeded, folder: Path, hot: int) -> dict[str, Path]:
    """Write the files read.lua picks paths from: the hot set by id and by name, and by id
    over the whole random sample (almost every read a cache miss, as for the naive one)."""
    reads = seeded.reads
    files = {
        "by_id": [f"/api/v1/configurations/{row[1]}" for row in reads[:hot]],
        "by_id_spread": [f"/api/v1/configurations/{row[1]}" for row in reads],
        "naive": [f"/naive/{row[1]}" for row in reads],
        "by_name": [
            f"/api/v1/applications/by-name/{r[2]}/configurations/{r[3]}" for r in reads[:hot]
        ],
    }
    paths = {}
    for name, lines in files.items():
        paths[name] = folder / f"{name}.txt"
        paths[name].write_text("\n".join(lines) + "\n")
    return paths


def _file(ctx: Context, name: str, lines: list[str]) -> Path:
    path = ctx.folder / f"{name}.txt"
    path.write_text("\n".join(lines) + "\n")
    return path


def read_load(ctx: Context, case: str) -> tuple[Load, int]:
    """Return the load of a read case and the status its answers must have."""
    c, t = ctx.args.connections, ctx.args.threads
    listing = f"/api/v1/applications/{ctx.seeded.big_app_id}/configurations?limit={LIMIT}"
    cursor = encode_cursor(ctx.seeded.deep_cursor_id)
    sources = {
        "ceiling": (_file(ctx, "ceiling", ["/ceiling"]), {}, 200),
        "naive": (ctx.files["naive"], {}, 200),
        "get_id": (ctx.files["by_id"], ctx.auth, 200),
        "get_id_spread": (ctx.files["by_id_spread"], ctx.auth, 200),
        "get_name": (ctx.files["by_name"], ctx.auth, 200),
        "revalidate": (ctx.files["by_name"], {**ctx.auth, "If-None-Match": '"1"'}, 304),
        "list_first": (_file(ctx, "list_first", [listing]), ctx.auth, 200),
        "list_deep": (_file(ctx, "list_deep", [f"{listing}&cursor={cursor}"]), ctx.auth, 200),
        "watch": (ctx.files["by_name"], ctx.auth, 200),
        "watch_many": (ctx.files["by_name"], ctx.auth, 200),
    }
    targets, headers, status = sources[case]
    return Load("read", targets, headers, c, t), status


def put_load(ctx: Context) -> Load:
    """Return the PUT load: one connection (and wrk thread) per owned configuration."""
    owned = [row[1] for row in ctx.seeded.reserved[1:]][: ctx.args.connections]
    lines: list[str] = []
    # PUTs the server took before the last wrk stopped may still be committing: read the
    # versions until they hold still, or a connection would start from a stale ETag (412s).
    with servers.monitor(ctx.seeded.dsn).cursor() as cur:
        for _ in range(50):
            cur.execute(SELECT_VERSIONS, {"ids": owned})
            current = [f"{id} {name} {version}" for id, name, version in cur.fetchall()]
            if current == lines:
                break
            lines = current
            time.sleep(0.2)
    headers = {**ctx.auth}
    return Load("put", _file(ctx, "put", lines), headers, len(lines), len(lines))


def versions_written(ctx: Context) -> int:
    """Return how many versions the PUT case's configurations gained (their history rows)."""
    owned = [row[1] for row in ctx.seeded.reserved[1:]]
    with servers.monitor(ctx.seeded.dsn).cursor() as cur:
        cur.execute(
            "SELECT count(*) FROM configuration_versions WHERE configuration_id = ANY(%(ids)s)"
            " AND version > 1", {"ids": owned},
        )  # fmt: skip
        return cur.fetchone()[0]


def check(server: Gunicorn, load: Load, status: int) -> None:
    """Send one request of the case first: a wrong status would make every figure meaningless."""
    path = load.targets.read_text().splitlines()[0]
    got, _, body = servers.request(server, "GET", path, load.headers)
    if got != status:
        raise RuntimeError(f"GET {path} answered {got}, not {status}: {body[:300]!r}")


def run(ctx: Context, case: str) -> Result:
    """Warm up, then measure one case for the configured duration."""
    args, dsn = ctx.args, ctx.seeded.dsn
    server = ctx.ceiling if case in ("ceiling", "naive") else ctx.app
    if case in ("watch", "watch_many"):
        return _watch(ctx, case)
    if case == "put":
        drive(case, ctx.wrk, server, dsn, put_load(ctx), args.warmup)
        before = versions_written(ctx)
        result = drive(case, ctx.wrk, server, dsn, put_load(ctx), args.duration)
        result.extra["versions_written"] = versions_written(ctx) - before
        return result
    load, status = read_load(ctx, case)
    check(server, load, status)
    drive(case, ctx.wrk, server, dsn, load, args.warmup)
    result = drive(case, ctx.wrk, server, None if case == "ceiling" else dsn, load, args.duration)
    result.extra["depth"] = ctx.seeded.depth if case == "list_deep" else 0
    return result


def _watch(ctx: Context, case: str) -> Result:
    """Park the watchers, change what they watch halfway through a paced GET run."""
    watched, count = _single(ctx) if case == "watch" else _many(ctx)
    load, _ = read_load(ctx, case)
    load.rate = ctx.args.watch_rate
    result, extra = asyncio.run(
        watchers.run(ctx.app, ctx.wrk, ctx.seeded.dsn, load, watched, count, ctx.args.duration)
    )
    result.extra.update(extra)
    return result


def _single(ctx: Context) -> tuple[watchers.Watched, int]:
    """--watchers GET long polls of one configuration by name; a PUT changes it."""
    row = ctx.seeded.reserved[0]
    body = {"name": row[3], "comments": "changed by the benchmark", "config": {"changed": True}}
    headers = {**ctx.auth, "Content-Type": "application/json", "If-Match": '"1"'}
    path = f"/api/v1/applications/by-name/{row[2]}/configurations/{row[3]}"
    request = watchers.long_poll(path, ctx.auth, '"1"')

    def change() -> int:
        put = f"/api/v1/configurations/{row[1]}"
        return servers.request(ctx.app, "PUT", put, headers, json.dumps(body).encode())[0]

    return watchers.Watched(request, change), ctx.args.watchers


def _many(ctx: Context) -> tuple[watchers.Watched, int]:
    """Clients each watching the same MANY configurations (read, never written, by the
    other cases) with one POST /api/v1/watch; a PATCH changes one of them."""
    ids = [row[1] for row in ctx.seeded.reads[-MANY:]]
    with servers.monitor(ctx.seeded.dsn).cursor() as cur:
        cur.execute(SELECT_VERSIONS, {"ids": ids})
        versions = {id: version for id, _, version in cur.fetchall()}
    entries = [{"id": id, "etag": f'"{versions[id]}"'} for id in ids]
    request = watchers.watch_many(entries, ctx.auth)
    target = ids[len(ids) // 2]
    headers = {**ctx.auth, "Content-Type": "application/json", "If-Match": f'"{versions[target]}"'}

    def change() -> int:
        body = json.dumps({"config": {"changed": True}}).encode()
        return servers.request(ctx.app, "PATCH", f"{API}/{target}", headers, body)[0]

    return watchers.Watched(request, change), ctx.args.watch_many_clients
