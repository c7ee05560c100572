"""The benchmark's verdicts: each figure against its target, and what tracing costs.

Pure functions of the variants' JSON (``eventhub.devtools.bench.matrix`` runs them), so the
report can be checked without running a benchmark.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .stats import cost, dig, ratio, variant_name

TRACING_INFORMATIVE = {
    "noop_per_s",
    "cpu_noop",
    "healthz_per_s",
    "cpu_healthz",
    "order_deliveries_per_s",
}
"""Tracing costs reported but not held to the target: the baselines' own (a no-op task, the
bare view, whose ~2.5 ms make a request span's fixed cost look large) and a duplicate (the
deliveries of the orders phase move with its orders/s)."""

TARGETS = {
    "deliveries_vs_noop": 0.6,
    "deliveries_vs_naive": 1.0,
    "saga_deliveries_vs_noop": 0.4,
    "post_orders_vs_naive": 0.8,
    "cpu_per_delivery_vs_noop": 1.5,
    "latency_p99_over_noop_ms": 10.0,
    "websocket_p99_ms": 150.0,
    "post_orders_vs_bare": 0.7,
    "tracing_cost": 0.10,
    "rss_growth": 0.05,
}


def _target(
    name: str, variant: str, measured: float | None, limit: float, *, at_most: bool
) -> dict[str, Any]:
    met = None if measured is None else (measured <= limit if at_most else measured >= limit)
    return {
        "target": name,
        "variant": variant,
        "measured": measured,
        "limit": f"{'<=' if at_most else '>='} {limit}",
        "met": met,
    }


def _per_cpu(milliseconds: float | None) -> float | None:
    return 1000 / milliseconds if milliseconds else None


def tracing_costs(results: list[dict[str, Any]]) -> dict[str, dict[str, float | None]]:
    """Per database: the share of each throughput that turning tracing on costs.

    ``cpu_*`` figures compare CPU time per operation instead of wall-clock rates (as the rate
    a CPU-bound process would reach), which another tenant's load disturbs far less.
    """
    cpu_figures = {
        "cpu_deliveries": ("drain", "worker_cpu_ms_each", "deliveries"),
        "cpu_noop": ("drain", "worker_cpu_ms_each", "noop"),
        "cpu_post_orders": ("http", "web_cpu_ms_per_request", "post_orders"),
        "cpu_healthz": ("http", "web_cpu_ms_per_request", "healthz"),
    }
    figures = {
        "deliveries_per_s": ("drain", "deliveries_per_s"),
        "noop_per_s": ("drain", "noop_per_s"),
        "orders_per_s": ("orders", "orders_per_s"),
        "order_deliveries_per_s": ("orders", "deliveries_per_s"),
        "post_orders_per_s": ("http", "post_orders_per_s"),
        "healthz_per_s": ("http", "healthz_per_s"),
    }
    costs: dict[str, dict[str, float | None]] = {}
    results = [r for r in results if "error" not in r]
    for vendor in dict.fromkeys(r["database"]["vendor"] for r in results):
        on = [r for r in results if r["database"]["vendor"] == vendor and r["tracing"]]
        off = [r for r in results if r["database"]["vendor"] == vendor and not r["tracing"]]
        if on and off:
            costs[vendor] = {
                name: cost(dig(on[0], *path), dig(off[0], *path)) for name, path in figures.items()
            } | {
                name: cost(_per_cpu(dig(on[0], *path)), _per_cpu(dig(off[0], *path)))
                for name, path in cpu_figures.items()
            }
    return costs


def _saga_vs_noop(result: dict[str, Any]) -> float | None:
    return ratio(dig(result, "orders", "deliveries_per_s"), dig(result, "drain", "noop_per_s"))


VARIANT_TARGETS: list[tuple[str, str, Callable[[dict[str, Any]], float | None], bool]] = [
    # (the row's title, its key in TARGETS, the measured figure of a variant, at most?)
    ("deliveries/s >= 0.6 x no-op drain", "deliveries_vs_noop",
     lambda r: dig(r, "drain", "ratio"), False),
    ("deliveries/s >= 1.0 x naive peer", "deliveries_vs_naive",
     lambda r: dig(r, "drain", "ratio_naive"), False),
    ("saga deliveries/s >= 0.4 x no-op drain", "saga_deliveries_vs_noop", _saga_vs_noop, False),
    ("worker CPU per delivery <= 1.5 x no-op task", "cpu_per_delivery_vs_noop",
     lambda r: dig(r, "drain", "cpu_ratio_noop"), True),
    ("publish->handler-start p99 <= no-op p99 + 10 ms", "latency_p99_over_noop_ms",
     lambda r: dig(r, "latency", "p99_over_noop_ms"), True),
    ("publish->websocket p99 <= 150 ms", "websocket_p99_ms",
     lambda r: dig(r, "websocket", "latency_ms", "p99"), True),
    ("POST /orders >= 0.7 x bare view", "post_orders_vs_bare",
     lambda r: dig(r, "http", "ratio"), False),
    ("POST /orders >= 0.8 x naive peer view", "post_orders_vs_naive",
     lambda r: dig(r, "http", "ratio_naive"), False),
    ("worker RSS growth <= 5%", "rss_growth", lambda r: dig(r, "rss", "growth"), True),
]  # fmt: skip


def targets(results: list[dict[str, Any]], costs: dict[str, Any]) -> list[dict[str, Any]]:
    """One row per target and variant (and per tracing cost and database), measured ones only."""
    rows = [
        _target(title, variant_name(r), measure(r), TARGETS[key], at_most=at_most)
        for r in results
        if "error" not in r
        for title, key, measure, at_most in VARIANT_TARGETS
    ]
    rows += [
        _target(f"tracing cost <= 10% ({figure})", vendor, value, TARGETS["tracing_cost"],
                at_most=True)
        for vendor, figures in costs.items()
        for figure, value in figures.items()
        if figure not in TRACING_INFORMATIVE
    ]  # fmt: skip
    return [row for row in rows if row["measured"] is not None]
