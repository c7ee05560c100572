"""Small, pure helpers for the benchmark's figures: percentiles, ratios, rates."""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any


def dig(data: Any, *path: str) -> Any:
    """``data[path[0]][path[1]]...``, or None where a step is missing (a phase not run)."""
    for key in path:
        if not isinstance(data, dict) or key not in data:
            return None
        data = data[key]
    return data


def variant_name(result: dict[str, Any]) -> str:
    """ "postgresql, tracing on" for one variant's result."""
    vendor = result["database"]["vendor"]
    return f"{vendor}, tracing {'on' if result['tracing'] else 'off'}"


def percentile(ordered: list[float], q: float) -> float:
    """Nearest-rank percentile of an ascending list: the smallest value >= q of the samples."""
    if not ordered:
        raise ValueError("no samples")
    if not 0 < q <= 1:
        raise ValueError("q must be in (0, 1]")
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)]


def summarize(samples: Iterable[float], digits: int = 1) -> dict[str, float | int | None]:
    """count, mean, p50, p95, p99 and max of ``samples`` (milliseconds, say)."""
    ordered = sorted(samples)
    if not ordered:
        return {"count": 0, "mean": None, "p50": None, "p95": None, "p99": None, "max": None}
    return {
        "count": len(ordered),
        "mean": round(sum(ordered) / len(ordered), digits),
        "p50": round(percentile(ordered, 0.50), digits),
        "p95": round(percentile(ordered, 0.95), digits),
        "p99": round(percentile(ordered, 0.99), digits),
        "max": round(ordered[-1], digits),
    }


def ratio(numerator: float | None, denominator: float | None, digits: int = 3) -> float | None:
    """numerator / denominator, or None when either is missing or the denominator is 0."""
    if numerator is None or not denominator:
        return None
    return round(numerator / denominator, digits)


def rate(count: int, seconds: float, digits: int = 1) -> float | None:
    """Items per second, or None for an empty interval."""
    return round(count / seconds, digits) if seconds > 0 else None


def cost(with_feature: float | None, without: float | None, digits: int = 3) -> float | None:
    """The share of throughput a feature costs: 1 - with/without (0.1 = 10 % slower)."""
    kept = ratio(with_feature, without, digits=6)
    return None if kept is None else round(1 - kept, digits)


def growth(before: float | None, after: float | None, digits: int = 4) -> float | None:
    """Relative growth from ``before`` to ``after`` (0.05 = 5 % more)."""
    grown = ratio(after, before, digits=6)
    return None if grown is None else round(grown - 1, digits)
