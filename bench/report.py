"""The benchmark's table (terminal and Markdown), the targets check, and the PNG chart."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bench.load import Result

HEADER = (
    "| case | req/s | p50 ms | p99 ms | errors | app CPU ms/req | db CPU ms/req "
    "| load-gen CPU (cores) | × ceiling |"
)


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}" if value >= 10 else f"{value:.2f}"


def row(result: Result, label: str) -> str:
    ratio = "-" if result.ratio is None else f"{result.ratio:.0%}"
    return (
        f"| {label} | {result.rps:,.0f} | {_ms(result.p50_ms)} | {_ms(result.p99_ms)} "
        f"| {result.errors} | {result.app_cpu_ms:.2f} | {result.db_cpu_ms:.2f} "
        f"| {result.loader_cpu:.2f} | {ratio} |"
    )


def table(results: list[tuple[str, Result]]) -> list[str]:
    """Return the Markdown table of every case, in run order."""
    return [HEADER, "|" + "---|" * HEADER.count(" |"), *(row(r, label) for label, r in results)]


def _check(ok: bool | None) -> str:
    return "n/a" if ok is None else "met" if ok else "**missed**"


def targets(by: dict[str, Result], other_size: dict | None) -> list[str]:
    """Return one line per target of the issue: the figure measured and met / missed."""
    lines = ["| target | measured | verdict |", "|---|---|---|"]

    def add(target: str, measured: str, ok: bool | None) -> None:
        lines.append(f"| {target} | {measured} | {_check(ok)} |")

    _read_targets(by, add)
    if "put" in by:
        r = by["put"]
        ok = r.ratio >= 0.3 and r.errors == 0
        add("PUT If-Match ≥ 30 %, zero errors", f"{r.ratio:.0%}, {r.errors} errors", ok)
    _scale_targets(by, other_size, add)
    if "watch" in by:
        w, r = by["watch"].extra, by["watch"]
        p99 = w["delivery_p99_ms"]
        all_in = w["delivered"] == w["watchers"]
        add("change delivered to all watchers, p99 < 1 s",
            f"{w['delivered']}/{w['watchers']}, p99 {_ms(p99)} ms",
            all_in and p99 is not None and p99 < 1000)  # fmt: skip
        add("GET p99 < 50 ms under watchers", f"{_ms(r.p99_ms)} ms", r.p99_ms < 50)
        kib = w["rss_per_watcher_kib"]
        add(
            "all watchers parked",
            f"{w['parked']:.0f}/{w['watchers']}",
            w["parked"] == w["watchers"],
        )
        add("memory per idle watcher ≤ 20 KiB", f"{kib:.1f} KiB", kib <= 20)
    if "watch_many" in by:
        w = by["watch_many"].extra
        p99 = w["delivery_p99_ms"]
        add(f"one POST /watch of 1,000 configurations × {w['watchers']} clients: a change "
            "reaches them, p99 < 1 s", f"{w['delivered']}/{w['watchers']}, p99 {_ms(p99)} ms",
            w["delivered"] == w["watchers"] and p99 is not None and p99 < 1000)  # fmt: skip
    return lines


def _read_targets(by: dict[str, Result], add: Any) -> None:
    for key, name in (("get_id", "GET by id"), ("get_name", "GET by name")):
        if key in by:
            r = by[key]
            add(f"{name} ≥ 100 % of ceiling", f"{r.ratio:.0%}", r.ratio >= 1.0)
            add(f"{name} p99 ≤ 3 × p50", f"{r.p99_ms / r.p50_ms:.1f} ×", r.p99_ms <= 3 * r.p50_ms)
    if "revalidate" in by:
        ratio = by["revalidate"].ratio
        add("304 revalidation ≥ 110 %", f"{ratio:.0%}", ratio >= 1.1)
    if "get_id_spread" in by:
        r, naive = by["get_id_spread"], by.get("naive")
        measured = f"{r.ratio:.0%}" + (f" vs {naive.ratio:.0%}" if naive else "")
        ok = r.ratio >= naive.ratio if naive else None
        add("GET by id from PostgreSQL (cache misses) ≥ the naive reference", measured, ok)


def _scale_targets(by: dict[str, Result], other_size: dict | None, add: Any) -> None:
    if "list_first" in by and "list_deep" in by:
        first, deep = by["list_first"], by["list_deep"]
        depth = deep.extra.get("depth")
        change = deep.p50_ms / first.p50_ms - 1
        add(f"list page at depth {depth:,} within 15 % of the first (p50)", f"{change:+.0%}",
            abs(change) <= 0.15)  # fmt: skip
    for key, name in (("get_name", "GET by name"), ("get_id_spread", "GET by id, misses")):
        before = (other_size or {}).get(f"{key}_p50_ms")
        if before and key in by:
            change = by[key].p50_ms / before - 1
            add(f"{name} p50 at size {other_size['size']:,} → this size within 15 %",  # type: ignore[index]
                f"{change:+.0%}", abs(change) <= 0.15)  # fmt: skip


def chart(results: list[tuple[str, Result]], path: Path, title: str) -> None:
    """Draw throughput and p99 per case side by side (PNG)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    labels = [label for label, _ in results][::-1]
    rps = [r.rps for _, r in results][::-1]
    p99 = [r.p99_ms for _, r in results][::-1]
    ratios = [r.ratio for _, r in results][::-1]
    fig, (left, right) = plt.subplots(1, 2, figsize=(12, 0.45 * len(labels) + 1.8), sharey=True)
    bars = left.barh(labels, rps, color="#4878a8")
    for bar, ratio in zip(bars, ratios, strict=True):
        text = f" {bar.get_width():,.0f}" + (f" ({ratio:.0%})" if ratio is not None else "")
        left.text(
            bar.get_width(), bar.get_y() + bar.get_height() / 2, text, va="center", fontsize=8
        )
    left.set_xlabel("requests per second (× ceiling in brackets)")
    left.set_xlim(0, max(rps) * 1.35)
    for bar in right.barh(labels, p99, color="#c8643c"):
        y = bar.get_y() + bar.get_height() / 2
        right.text(bar.get_width(), y, f" {bar.get_width():.0f}", va="center", fontsize=8)
    right.set_xlabel("p99 latency (ms, log scale)")
    right.set_xscale("log")
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
