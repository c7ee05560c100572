"""The benchmark's own helpers: statistics, the websocket client, the plan and the targets.

Only the pure parts: the benchmark itself (``bin/bench``) prints figures and is never run by
the suite (R11: performance is measured by a command, not by timed assertions).
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from django.core.management.base import CommandError
from websockets.asyncio.server import ServerConnection, serve
from websockets.exceptions import ConnectionClosed

from eventhub.devtools.bench import matrix, targets
from eventhub.devtools.bench.stats import cost, growth, percentile, rate, ratio, summarize
from eventhub.devtools.websocket_client import connect, received
from eventhub.management.commands import eventhub_bench

pytestmark = pytest.mark.bench


def test_percentile_is_nearest_rank() -> None:
    samples = [float(x) for x in range(1, 101)]  # 1..100
    assert percentile(samples, 0.5) == 50
    assert percentile(samples, 0.95) == 95
    assert percentile(samples, 0.99) == 99
    assert percentile(samples, 1.0) == 100
    assert percentile([7.0], 0.99) == 7
    with pytest.raises(ValueError):
        percentile([], 0.5)


def test_summarize_sorts_and_rounds() -> None:
    summary = summarize([3.0, 1.0, 2.0, 10.0])
    assert summary == {"count": 4, "mean": 4.0, "p50": 2.0, "p95": 10.0, "p99": 10.0, "max": 10.0}
    assert summarize([])["p99"] is None


def test_ratio_cost_growth_rate() -> None:
    assert ratio(60, 100) == 0.6
    assert ratio(1, 0) is None and ratio(None, 3) is None
    assert cost(90, 100) == 0.1  # tracing on at 90/s, off at 100/s: 10 % of throughput
    assert cost(None, 100) is None
    assert growth(200, 210) == 0.05
    assert rate(300, 2.0) == 150.0 and rate(1, 0) is None


async def _read_from(close: str) -> tuple[list[str], int | None]:
    """A server that sends two messages (one of 200 kB, a replay's size) then closes as
    ``close`` says; what ``received`` read, and the close code the client saw."""

    async def handler(server_side: ServerConnection) -> None:
        await server_side.send("hello")
        await server_side.send("x" * 200_000)
        if close == "4401":
            await server_side.close(4401)
        else:
            server_side.transport.abort()  # no close frame: the connection is lost

    async with serve(handler, "127.0.0.1", 0) as server:
        port = server.sockets[0].getsockname()[1]
        socket = await connect("127.0.0.1", port, "/ws/", {"Origin": "http://127.0.0.1"})
        texts = []
        try:
            async for text in received(socket):
                texts.append(text[:5])
        finally:
            await socket.close()
    return texts, socket.close_code


def test_the_websocket_client_reads_until_the_servers_close_with_any_code() -> None:
    assert asyncio.run(_read_from("4401")) == (["hello", "xxxxx"], 4401)


def test_the_websocket_client_raises_when_the_connection_is_lost() -> None:
    with pytest.raises(ConnectionClosed):
        asyncio.run(_read_from("abort"))


def _options(**overrides: Any) -> dict[str, Any]:
    parser = eventhub_bench.Command().create_parser("manage.py", "eventhub_bench")
    options = vars(parser.parse_args([]))
    options.update(overrides)
    return options


def test_plan_takes_the_preset_unless_a_count_is_given() -> None:
    quick = matrix.plan_from(_options(quick=True, deliveries=123))
    assert quick["deliveries"] == 123
    assert quick["orders"] == matrix.PRESETS["quick"]["orders"]
    full = matrix.plan_from(_options())
    assert full["rss_deliveries"] == matrix.PRESETS["full"]["rss_deliveries"]
    with pytest.raises(CommandError):
        matrix.plan_from(_options(phases="drain,nonsense"))
    with pytest.raises(CommandError):
        matrix.plan_from(_options(variants="tracing-maybe"))


def _variant(vendor: str, tracing: bool, deliveries: float, **extra: Any) -> dict[str, Any]:
    return {
        "database": {"vendor": vendor},
        "tracing": tracing,
        "drain": {"deliveries_per_s": deliveries, "noop_per_s": 400.0, "ratio": deliveries / 400},
        **extra,
    }


def test_targets_and_tracing_cost() -> None:
    results = [
        _variant("postgresql", True, 270.0, latency={"p99_over_noop_ms": 12.5}),
        _variant("postgresql", False, 300.0, rss={"growth": 0.01}),
        {"database": {"vendor": "sqlite"}, "variant": "tracing-on", "error": 1},
    ]
    costs = targets.tracing_costs(results)
    assert costs["postgresql"]["deliveries_per_s"] == 0.1
    assert costs["postgresql"]["orders_per_s"] is None  # phase not run
    rows = {(r["target"], r["variant"]): r for r in targets.targets(results, costs)}
    drain = rows[("deliveries/s >= 0.6 x no-op drain", "postgresql, tracing on")]
    assert drain["measured"] == 0.675 and drain["met"] is True
    latency = rows[("publish->handler-start p99 <= no-op p99 + 10 ms", "postgresql, tracing on")]
    assert latency["met"] is False
    assert rows[("worker RSS growth <= 5%", "postgresql, tracing off")]["met"] is True
    assert rows[("tracing cost <= 10% (deliveries_per_s)", "postgresql")]["met"] is True
    assert not any("websocket" in target for target, _ in rows)  # not measured: not listed


def test_the_report_renders_targets_figures_and_tracing_costs_as_markdown() -> None:
    from eventhub.devtools.bench.report import render

    results = [
        _variant("postgresql", True, 270.0, latency={"p99_over_noop_ms": 12.5}),
        _variant("postgresql", False, 300.0, rss={"growth": 0.01}),
    ]
    costs = targets.tracing_costs(results)
    report = {
        "machine": {
            "nproc": 2, "cpu_model": "X", "memory_gib": 1.0, "python": "3.11",
            "kernel": "6", "load_average_at_start": [0.1, 0.1, 0.1],
        },
        "variants": results,
        "tracing_cost": costs,
        "targets": targets.targets(results, costs),
        "wall_seconds": 1.0,
    }  # fmt: skip
    text = render(report)
    assert (
        "| deliveries/s >= 0.6 x no-op drain | postgresql, tracing on | 0.675 | >= 0.6 | yes |"
        in text
    )
    assert "| worker RSS growth <= 5% | postgresql, tracing off | +1.0 % | <= 5 % | yes |" in text
    assert "| deliveries/s, one no-op subscriber | 270.0 | 300.0 |" in text
    assert "| deliveries_per_s | +10.0 % |" in text


def test_the_baselines_own_tracing_cost_is_reported_but_not_a_target() -> None:
    on = _variant("postgresql", True, 270.0)
    off = _variant("postgresql", False, 300.0)
    for variant, rate_per_s in ((on, 100.0), (off, 200.0)):
        variant["http"] = {"healthz_per_s": rate_per_s, "post_orders_per_s": 50.0}
    costs = targets.tracing_costs([on, off])
    assert costs["postgresql"]["healthz_per_s"] == 0.5
    listed = {r["target"] for r in targets.targets([on, off], costs)}
    assert "tracing cost <= 10% (post_orders_per_s)" in listed
    assert "tracing cost <= 10% (healthz_per_s)" not in listed


def test_repeated_runs_are_merged_figure_by_figure_into_medians() -> None:
    runs = [
        _variant("sqlite", True, 100.0, http={"ratio": 0.2, "clients": 8}),
        _variant("sqlite", True, 300.0, http={"ratio": 0.1, "clients": 8}),
        _variant("sqlite", True, 200.0, http={"ratio": 0.3, "clients": 8}),
        {"database": {"vendor": "sqlite"}, "variant": "tracing-on", "error": 1},
    ]
    merged = matrix.median_of(runs)
    assert merged["drain"]["deliveries_per_s"] == 200.0
    assert merged["drain"]["ratio"] == 0.5  # the median of the ratios (0.25, 0.75, 0.5)
    assert merged["http"] == {"ratio": 0.2, "clients": 8}
    assert merged["tracing"] is True and merged["database"] == {"vendor": "sqlite"}
    assert merged["runs_merged"] == 3
