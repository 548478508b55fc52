"""Where a GET by name spends the workers' CPU: py-spy on every worker, grouped by part.

`--profile` records with `py-spy record --gil --subprocesses` (only the thread holding the
GIL is sampled, so the shares are of Python CPU time, not of waits) while wrk drives GET by
name, keeps the collapsed stacks and returns a table of inclusive shares.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import threading
from collections import Counter
from pathlib import Path

from bench import load
from bench.cases import Context, read_load

# part of a request -> a substring of the collapsed stack that marks it (inclusive)
PARTS = {
    "whole request (gunicorn handle_request)": "ThreadWorker.handle_request",
    "gunicorn: parse the request": "gunicorn/http/parser.py",
    "gunicorn: write the response": "gunicorn/http/wsgi.py",
    "fast path: cached answers (all)": "FastPath.__call__ (app/web/fastpath.py",
    "fast path: token check": "admitted_from_cache (app/web/fastpath.py",
    "Flask: the requests the fast path hands on (all)": "Flask.wsgi_app (flask/app.py",
    "Flask: request context push": "RequestContext.push",
    "Flask: teardown (gives the connection back)": "Flask.do_teardown_request",
    "Flask: URL routing": "MapAdapter.match",
    "logs: request id and log line": "(app/web/logs.py",
    "metrics: per-thread tallies": "(app/web/metrics.py",
    "auth: authenticate (Flask)": "authenticate (app/web/auth.py",
    "auth: token SELECT round trip (cache misses)": "TokenRepository.find_active",
    "read cache: lookups (token and configuration)": "(app/worker.py",
    "pool: borrow and return a connection": "ConnectionPool.",
    "view: get_configuration_by_name (all)": "get_configuration_by_name",
    "view: configuration SELECT round trip (cache misses)": "ConfigurationRepository.",
    "view: render the answer (cache misses)": "render (app/api/representation.py",
    "view: build the Response": "answer (app/api/representation.py",
}


def record(ctx: Context, seconds: float, out: Path) -> list[str]:
    """Profile GET by name for `seconds`; write the stacks to `out`; return a Markdown table."""
    spy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    run, _ = read_load(ctx, "get_name")
    driving = threading.Thread(
        target=load.drive, args=("profile", ctx.wrk, ctx.app, None, run, seconds + 4)
    )
    driving.start()
    command = [spy, "record", "--gil", "--subprocesses", "--nonblocking", "-r", "97", "-f", "raw"]
    command += ["-d", str(int(seconds)), "-p", str(ctx.app.pid), "-o", str(out)]
    done = subprocess.run(command, capture_output=True, text=True, timeout=seconds + 60)
    driving.join()
    if done.returncode != 0 or not out.exists():
        return [f"py-spy failed: {done.stderr.strip()[-300:]}"]
    return summarize(out)


def summarize(stacks: Path) -> list[str]:
    """Return inclusive shares of each part, of the samples inside a request."""
    seen: Counter[str] = Counter()
    total = 0
    for line in stacks.read_text().split("\n"):  # not splitlines(): frames may hold \x1c etc.
        stack, _, count = line.rpartition(" ")
        if not count.isdigit():
            continue
        total += int(count)
        for part, marker in PARTS.items():
            if marker in stack:
                seen[part] += int(count)
    inside = seen[next(iter(PARTS))] or 1
    lines = ["| part of a GET by name | share of worker CPU in requests |", "|---|---|"]
    lines += [f"| {part} | {seen[part] / inside:.0%} |" for part in PARTS]
    share = inside / max(total, 1)
    return [*lines, "", f"{share:.0%} of the workers' GIL-holding samples are inside a request."]
