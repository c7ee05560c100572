"""Markdown tables from ``bin/bench`` JSON:
``python -m eventhub.devtools.bench.report RESULT.json``.

docs/benchmarks.md pastes this output; rerunning the benchmark and this script gives the
same tables for another machine or commit.
"""

from __future__ import annotations

import json
import sys
from typing import Any

from .stats import dig, variant_name


def _fmt(value: Any, digits: int = 1) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:,.{digits}f}"
    return f"{value:,}" if isinstance(value, int) else str(value)


def _pct(value: float | None) -> str:
    return "–" if value is None else f"{value * 100:+.1f} %"


def targets_table(report: dict[str, Any]) -> list[str]:
    lines = ["| Target | Variant | Measured | Limit | Met |", "|---|---|---|---|---|"]
    for row in report["targets"]:
        measured = row["measured"]
        limit = row["limit"]
        if "cost" in row["target"] or "RSS" in row["target"]:
            op, number = limit.split()
            measured, limit = _pct(measured), f"{op} {float(number) * 100:.0f} %"
        met = {True: "yes", False: "**no**", None: "–"}[row["met"]]
        lines.append(f"| {row['target']} | {row['variant']} | {measured} | {limit} | {met} |")
    return lines


ROWS: list[tuple[str, tuple[str, ...], int]] = [
    ("orders/s end to end (HTTP, full saga)", ("orders", "orders_per_s"), 1),
    ("deliveries/s end to end (those orders)", ("orders", "deliveries_per_s"), 1),
    ("deliveries/s, one no-op subscriber", ("drain", "deliveries_per_s"), 1),
    ("baseline: no-op Celery task/s", ("drain", "noop_per_s"), 1),
    ("baseline: naive peer task/s (3 ORM writes)", ("drain", "naive_per_s"), 1),
    ("ratio deliveries / no-op", ("drain", "ratio"), 3),
    ("ratio deliveries / naive peer", ("drain", "ratio_naive"), 3),
    ("worker CPU ms per delivery", ("drain", "worker_cpu_ms_each", "deliveries"), 2),
    ("worker CPU ms per no-op task", ("drain", "worker_cpu_ms_each", "noop"), 2),
    ("worker CPU ms per naive peer task", ("drain", "worker_cpu_ms_each", "naive"), 2),
    ("latency rate (events/s, 1/4 of max)", ("latency", "rate_per_s"), 1),
    ("publish→handler start p50 ms", ("latency", "delivery_ms", "p50"), 1),
    ("publish→handler start p99 ms", ("latency", "delivery_ms", "p99"), 1),
    ("baseline: publish→no-op task p50 ms", ("latency", "noop_ms", "p50"), 1),
    ("baseline: publish→no-op task p99 ms", ("latency", "noop_ms", "p99"), 1),
    ("p99 over the baseline's p99, ms", ("latency", "p99_over_noop_ms"), 1),
    ("POST /orders req/s (8 clients)", ("http", "post_orders_per_s"), 1),
    ("baseline: GET /healthz req/s", ("http", "healthz_per_s"), 1),
    ("baseline: naive peer view req/s", ("http", "naive_per_s"), 1),
    ("ratio POST /orders / bare view", ("http", "ratio"), 3),
    ("ratio POST /orders / naive peer view", ("http", "ratio_naive"), 3),
    ("web CPU ms per POST /orders", ("http", "web_cpu_ms_per_request", "post_orders"), 2),
    ("web CPU ms per GET /healthz", ("http", "web_cpu_ms_per_request", "healthz"), 2),
    ("web CPU ms per naive peer order", ("http", "web_cpu_ms_per_request", "naive"), 2),
    ("websocket: events/s reached (target 1,000)", ("websocket", "rate_reached"), 1),
    ("publish→websocket p50 ms (10 clients)", ("websocket", "latency_ms", "p50"), 1),
    ("publish→websocket p99 ms (10 clients)", ("websocket", "latency_ms", "p99"), 1),
    ("websocket: events received by the slowest client", ("websocket", "received_min"), 0),
    ("web CPU ms per event streamed to 10 clients", ("websocket", "web_cpu_ms_per_event"), 3),
    ("worker RSS before, MB", ("rss", "before", "total_mb"), 1),
    ("worker RSS after, MB", ("rss", "after", "total_mb"), 1),
]


def figures_table(report: dict[str, Any]) -> list[str]:
    variants = [v for v in report["variants"] if "error" not in v]
    lines = [
        "| Figure | " + " | ".join(variant_name(v) for v in variants) + " |",
        "|---|" + "---|" * len(variants),
    ]
    for label, path, digits in ROWS:
        values = [dig(v, *path) for v in variants]
        if all(value is None for value in values):
            continue
        cells = " | ".join(_fmt(value, digits) for value in values)
        lines.append(f"| {label} | {cells} |")
    rss = [dig(v, "rss", "deliveries") for v in variants]
    if any(rss):
        cells = " | ".join(_fmt(x) for x in rss)
        lines.append(f"| deliveries between the RSS readings | {cells} |")
    return lines


def tracing_table(report: dict[str, Any]) -> list[str]:
    costs = report.get("tracing_cost") or {}
    if not costs:
        return []
    names = sorted({name for figures in costs.values() for name in figures})
    lines = ["| Throughput | " + " | ".join(costs) + " |", "|---|" + "---|" * len(costs)]
    for name in names:
        lines.append(f"| {name} | " + " | ".join(_pct(costs[v].get(name)) for v in costs) + " |")
    return lines


def render(report: dict[str, Any]) -> str:
    machine = report["machine"]
    parts = [
        f"Machine: {machine['nproc']} CPUs ({machine['cpu_model']}), {machine['memory_gib']} GiB, "
        f"Python {machine['python']}, kernel {machine['kernel']}; load average at start "
        f"{machine['load_average_at_start']}; {report['wall_seconds']} s in all."
        + (
            f" Every figure is the median of {report['plan']['repeat']} interleaved runs."
            if report.get("plan", {}).get("repeat", 1) > 1
            else ""
        ),
        "",
        *targets_table(report),
        "",
        *figures_table(report),
    ]
    if tracing := tracing_table(report):
        parts += ["", "Tracing cost (1 - traced/untraced; negative: traced was faster):", ""]
        parts += tracing
    return "\n".join(parts) + "\n"


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python -m eventhub.devtools.bench.report RESULT.json", file=sys.stderr)
        return 2
    with open(argv[0]) as result:
        sys.stdout.write(render(json.load(result)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
