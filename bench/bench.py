"""The benchmark anyone can run: `make bench` (ARGS="--size 1000000 --duration 30" ...).

Seeds a database, serves it with `gunicorn -c gunicorn.conf.py wsgi:app` and, in the same
run, an empty Flask endpoint under the same settings (the ceiling); drives both with wrk
from a second process on 127.0.0.1, every run bounded in time; prints one table and
writes docs/benchmarks.md, docs/benchmarks.png and docs/benchmarks-<size>.json.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from app.settings import PROJECT_ROOT
from bench import cases, load, profile, seed, servers
from bench.output import write


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="make bench ARGS=...", description=__doc__)
    add = parser.add_argument
    add("--size", type=int, default=10_000, help="configurations to seed (1000000 on request)")
    add("--duration", type=float, default=10.0, help="seconds measured per case")
    add("--warmup", type=float, default=2.0, help="seconds of unmeasured load before each case")
    add("--connections", type=int, default=32, help="concurrent connections (wrk -c)")
    add("--threads", type=int, default=2, help="wrk threads for the read cases")
    add("--cases", default=",".join(cases.ORDER), help="comma-separated, from: %(default)s")
    add("--watchers", type=int, default=10_000, help="idle long polls in the watch case")
    add("--watch-many-clients", type=int, default=100,
        help="clients each holding one POST /api/v1/watch of 1,000 configurations")  # fmt: skip
    add("--watch-rate", type=int, default=1000, help="GETs per second while the watchers wait "
        "(a latency target needs a load below capacity; 0: as fast as answered)")  # fmt: skip
    add("--soak", type=float, default=0.0, help="extra GET-by-name seconds sampling worker RSS")
    add("--workers", type=int, help="GUNICORN_WORKERS (default: gunicorn.conf.py's 2 x cores + 1)")
    add("--gunicorn-threads", type=int, help="GUNICORN_THREADS (default: gunicorn.conf.py's)")
    add("--worker-class", help="gunicorn --worker-class (default: gunicorn.conf.py's gevent)")
    add("--log-level", default="INFO", help="LOG_LEVEL of the service (INFO, the production "
        "default, logs each request)")  # fmt: skip
    add("--no-auth", action="store_true", help="AUTH_ENABLED=false (default: tokens on)")
    add("--server-url", help="superuser DSN (default: $BENCH_DATABASE_URL, $TEST_DATABASE_URL, "
        "else the embedded dev PostgreSQL)")  # fmt: skip
    add("--database", default="cs_bench", help="database to (re)create and drop")
    add("--keep-db", action="store_true", help="leave the database in place afterwards")
    add("--keep-logs", action="store_true", help="keep the gunicorn logs (printed folder)")
    add("--sample", type=int, default=200_000, help="most ids wrk picks from (random sample)")
    add("--hot", type=int, default=200, help="configurations the GET cases read again and again "
        "(as services do; cached by every worker after the warm-up)")  # fmt: skip
    add("--profile", action="store_true", help="py-spy GET by name into docs/profile-*.txt")
    add("--out", type=Path, default=PROJECT_ROOT / "docs", help="where the .md/.png/.json go")
    return parser.parse_args(argv)


def server_url(args: argparse.Namespace) -> str:
    url = args.server_url or os.environ.get("BENCH_DATABASE_URL")
    url = url or os.environ.get("TEST_DATABASE_URL")
    if url:
        return url
    from devtools.devdb import DEFAULT_DATA_DIR, session_dsn

    return session_dsn(DEFAULT_DATA_DIR)  # stopped at exit if the benchmark started it


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    # SIGTERM unwinds like Ctrl-C: the finally below stops our servers and drops the database.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))  # gunicorn and wrk inherit it
    chosen = [c for c in cases.ORDER if c in args.cases.split(",")]
    wrk = load.find_wrk()
    print(f"bench: load generator {wrk or 'python (wrk unavailable)'}", file=sys.stderr)
    admin = server_url(args)
    folder = Path(tempfile.mkdtemp(prefix="cs-bench-"))
    started = time.time()
    app = ceiling = None
    try:
        seeded = seed.create(admin, args.database, args.size, args.sample, cases.LIMIT)
        print(f"bench: seeded {args.size:,} rows in {seeded.seconds:.1f} s", file=sys.stderr)
        servers.monitor(seeded.dsn)  # our one connection, before the servers take theirs
        token = seed.writer_token(seeded.dsn, not args.no_auth)
        options = servers.Options(
            args.workers, args.gunicorn_threads, args.worker_class, args.log_level, not args.no_auth
        )
        app = servers.start("wsgi:app", seeded.dsn, options, folder / "app.log")
        ceiling = servers.start("bench.ceiling:app", seeded.dsn, options,
                                folder / "ceiling.log")  # fmt: skip
        auth = {"Authorization": f"Bearer {token}"} if token else {}
        files = cases.write_targets(seeded, folder, args.hot)
        ctx = cases.Context(args, wrk, app, ceiling, seeded, files, folder, auth)
        results = measure(ctx, chosen)
        write(ctx, results, started)
        if args.keep_logs:
            print(f"bench: gunicorn logs and target files in {folder}", file=sys.stderr)
        else:
            shutil.rmtree(folder)
    except BaseException:
        print(f"bench: failed; gunicorn logs and target files in {folder}", file=sys.stderr)
        raise
    finally:
        for server in (app, ceiling):
            if server is not None:
                server.stop()
        if not args.keep_db:
            seed.drop(admin, args.database)
    return 0


def measure(ctx: cases.Context, chosen: list[str]) -> dict:
    """Run the ceiling, each case, the ceiling again (and the soak); sample worker RSS."""
    workers = ctx.app.worker_pids
    results: list[tuple[str, load.Result]] = []
    rss = [("start", time.monotonic(), servers.rss_bytes(workers()))]
    first = cases.run(ctx, "ceiling")
    for case in chosen:
        print(f"bench: {ctx.label(case)} ...", file=sys.stderr)
        results.append((case, cases.run(ctx, case)))
        rss.append((case, time.monotonic(), servers.rss_bytes(workers())))
    if ctx.args.soak > 0:
        print(f"bench: soak, GET by name for {ctx.args.soak:g} s ...", file=sys.stderr)
        results.append(("soak", soak(ctx, rss)))
    profiled = None
    if ctx.args.profile:
        print("bench: profiling GET by name with py-spy ...", file=sys.stderr)
        ctx.args.out.mkdir(parents=True, exist_ok=True)
        stacks = ctx.args.out / "profile-get-by-name.txt"
        try:
            profiled = profile.record(ctx, 2 * ctx.args.duration, stacks)
        except (OSError, subprocess.SubprocessError, ValueError) as exc:
            profiled = [f"The profile failed: {exc!r}"]
    last = cases.run(ctx, "ceiling")
    ceiling_rps = (first.rps + last.rps) / 2
    for _, result in results:
        result.ratio = result.rps / ceiling_rps
    return {"results": results, "ceiling": (first, last), "rss": rss, "profile": profiled}


def soak(ctx: cases.Context, rss: list) -> load.Result:
    """GET by name for --soak seconds, sampling worker RSS every ten seconds meanwhile."""
    import threading

    seconds = ctx.args.soak
    run, _ = cases.read_load(ctx, "get_name")
    box: list[load.Result] = []

    def drive() -> None:
        box.append(load.drive("soak", ctx.wrk, ctx.app, ctx.seeded.dsn, run, seconds))

    worker = threading.Thread(target=drive)
    worker.start()
    while worker.is_alive():
        worker.join(10)
        rss.append(("soak", time.monotonic(), servers.rss_bytes(ctx.app.worker_pids())))
    return box[0]


if __name__ == "__main__":
    sys.exit(main())
