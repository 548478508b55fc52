"""Print the table and write docs/benchmarks.md, docs/benchmarks.png and a JSON per size."""

from __future__ import annotations

import json
import os
import platform
import sys
import time
from pathlib import Path

from bench import report
from bench.cases import Context
from bench.load import Result


def machine() -> str:
    """Describe the machine: cores, CPU model, memory, load, Python."""
    lines = Path("/proc/cpuinfo").read_text().splitlines()
    models = [line.split(":", 1)[1].strip() for line in lines if line.startswith("model name")]
    memory = int(Path("/proc/meminfo").read_text().split()[1]) / 2**20
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    return (
        f"{os.cpu_count()} cores ({models[0] if models else platform.processor()}), "
        f"{memory:.1f} GiB memory, Linux {platform.release()}, "
        f"Python {platform.python_version()}; load average {load}"
    )


def _other_size(folder: Path, size: int) -> dict | None:
    reference = folder / "benchmarks-10000.json"
    if size == 10_000 or not reference.exists():
        return None
    return json.loads(reference.read_text())


def rss_line(samples: list[tuple[str, float, int]]) -> str:
    """Describe worker RSS: after each case, and its change over the steady span.

    The steady span runs from the first case to the last one before the watchers (whose
    threads stay in the workers' pools), or over the soak when there is one.
    """
    shown = [sample for sample in samples if sample[0] != "soak"]
    series = ", ".join(f"{tag} {value / 2**20:.0f}" for tag, _, value in shown)
    tags = [tag for tag, _, _ in samples]
    soak = [sample for sample in samples if sample[0] == "soak"]
    steady = soak or samples[1 : tags.index("watch") if "watch" in tags else len(samples)]
    if len(steady) < 2:
        return f"Worker RSS (MiB, all workers) after each case: {series}."
    (_, t0, first), (_, t1, last) = steady[0], steady[-1]
    return (
        f"Worker RSS (MiB, all workers) after each case: {series}; over "
        f"{(t1 - t0) / 60:.1f} min {'of soak' if soak else 'of cases before the watchers'}: "
        f"{last / first - 1:+.1%} (the issue asks for ±10 % over 10 min: `--soak 600`)."
    )


def parked(w: dict) -> str:
    """Say how many watchers /metrics counted as waiting (-1: /metrics did not answer)."""
    if w["parked"] < 0:
        return f"?/{w['watchers']} (/metrics did not answer: every worker thread was busy)"
    return f"{w['parked']:.0f}/{w['watchers']}"


def extras(ctx: Context, by: dict[str, Result], run: dict, started: float) -> list[str]:
    """Return the figures that do not fit the table: ceiling drift, watchers, memory, PUT."""
    first, last = run["ceiling"]
    minutes = (time.time() - started) / 60
    lines = [f"- Ceiling (empty Flask endpoint, same gunicorn settings): {first.rps:,.0f} req/s at "
             f"the start, {last.rps:,.0f} at the end; ratios use their mean."]  # fmt: skip
    lines.append(f"- Whole run: {minutes:.1f} min. " + rss_line(run["rss"]))
    opened = ", ".join(f"{r.extra.get('sessions_opened', 0)}" for r in by.values())
    lines.append(f"- PostgreSQL sessions opened during each case (pool reconnects): {opened}.")
    if "put" in by:
        put = by["put"]
        lines.append(f"- PUT: {put.extra['versions_written']:,} versions written for "
                     f"{put.requests:,} answered requests.")  # fmt: skip
    if "watch" in by:
        w = by["watch"].extra
        lines.append(
            f"- Watchers: {parked(w)} parked; the change (PUT answered "
            f"{w['put_status']} in {w['put_ms']:.0f} ms) reached {w['delivered']} of them: "
            f"p50 {report._ms(w['delivery_p50_ms'])} ms, p99 {report._ms(w['delivery_p99_ms'])} "
            f"ms, max {report._ms(w['delivery_max_ms'])} ms after the PUT was sent; "
            f"{w['other_answers']} other answers. Memory per idle watcher: "
            f"{w['rss_per_watcher_kib']:.0f} KiB (worker RSS {w['rss_before_mib']:.0f} → "
            f"{w['rss_parked_mib']:.0f} MiB); parking took {w['park_s']:.1f} s."
        )
    if "watch_many" in by:
        w = by["watch_many"].extra
        lines.append(
            f"- POST /watch: {parked(w)} clients parked, each on the same 1,000 configurations;"
            f" the change to one (PATCH answered {w['put_status']} in {w['put_ms']:.0f} ms) "
            f"reached {w['delivered']}: p50 {report._ms(w['delivery_p50_ms'])} ms, p99 "
            f"{report._ms(w['delivery_p99_ms'])} ms; {w['other_answers']} other answers."
        )
    return lines


def write(ctx: Context, run: dict, started: float) -> None:
    """Print the table; write the Markdown, the chart and this size's JSON."""
    args = ctx.args
    results = [(ctx.label(case), result) for case, result in run["results"]]
    first, last = run["ceiling"]
    first.ratio = last.ratio = first.rps / ((first.rps + last.rps) / 2)
    rows = [(ctx.label("ceiling") + " (start)", first), *results,
            (ctx.label("ceiling") + " (end)", last)]  # fmt: skip
    by = dict(run["results"])
    server = f"gunicorn {args.worker_class or 'gevent'}, workers {args.workers or 'default'}, "
    server += f"threads {args.gunicorn_threads or 'default'}, LOG_LEVEL={args.log_level}, "
    server += f"auth {'off' if args.no_auth else 'on'}"
    command = "python -m bench.bench " + " ".join(sys.argv[1:])
    text = [
        f"# Benchmark: {args.size:,} configurations",
        "",
        f"- Machine: {machine()}",
        f"- Command: `{command.strip()}` (`make bench ARGS=...`); {args.duration:g} s per case "
        f"after {args.warmup:g} s of warm-up, {args.connections} connections, "
        f"load generator {ctx.wrk or 'python'}",
        f"- Server: {server}; {ctx.seeded.server}",
        "",
        *report.table(rows),
        "",
        *extras(ctx, by, run, started),
        "",
        "## Targets (issues #6 and #14)",
        "",
        *report.targets(by, _other_size(args.out, args.size)),
        "",
        "![throughput and p99 per case](benchmarks.png)",
    ]
    if run["profile"]:
        text += ["", "## Profile: GET by name (py-spy --gil, all workers)", "", *run["profile"]]
        text += ["", "Stacks: profile-get-by-name.txt (collapsed; any flamegraph tool reads it)."]
    print("\n".join(text))
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "benchmarks.md").write_text("\n".join(text) + "\n")
    report.chart(rows, args.out / "benchmarks.png", f"{args.size:,} configurations; {server}")
    summary = {
        "size": args.size,
        **{f"{key}_p50_ms": by[key].p50_ms for key in ("get_name", "get_id_spread") if key in by},
        "table": report.table(rows),
    }
    (args.out / f"benchmarks-{args.size}.json").write_text(json.dumps(summary, indent=1))
