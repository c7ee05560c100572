"""One benchmark variant (one database, tracing on or off): a stack and the measurements.

Runs inside ``manage.py eventhub_bench --variant ...``, a process whose environment already
names the database, the Redis (started by the parent), ``OTEL_SDK_DISABLED`` and the bench
plugin, so that this process publishes exactly as a web process of that variant would.

Every measurement is paired with its baseline, measured in the same stack minutes apart.
This module runs the phases in order on one stack (``stack``); each phase lives with its
kind:

- ``delivery_phases``: ``drain``, deliveries/s of ``bench.pinged`` to one no-op subscriber
  vs ``eventhub.noop`` tasks and vs the naive peer's ``eventhub.naive`` tasks (3 ORM writes
  each, ``bench.naive``), drained by the same worker from the same queue; ``latency``,
  publish -> handler-start latency at a quarter of the measured delivery rate vs the no-op
  task's send -> start latency at the same rate; ``rss``, worker RSS (main + pool) before
  and after M deliveries;
- ``web_phases``: ``orders``, orders over HTTP end to end; ``http``, ``POST /orders`` vs
  ``GET /healthz`` and vs the naive peer's plain order view (``POST /bench/naive/orders``),
  same daphne, same keep-alive client;
- ``websocket_phase``: publish -> websocket receipt with N dashboard clients at a steady rate.
"""

from __future__ import annotations

import os
import time
import uuid
from pathlib import Path
from typing import Any

from django.conf import settings

from eventhub.otel import configure, enabled

from .delivery_phases import (
    drain_deliveries,
    drain_noop,
    measure_drain,
    measure_latency,
    measure_rss,
)
from .stack import Bench, prepare_database, running_stack, say
from .web_phases import ORDER_BODY, hammer, measure_http, measure_orders, orders_settled
from .websocket_phase import measure_websocket

PHASES = ("orders", "http", "drain", "latency", "websocket", "rss")


def warm_up(bench: Bench, clients: int) -> None:
    """The first requests and tasks of each process pay for imports and connections."""
    run = f"warm-{uuid.uuid4().hex[:6]}"
    hammer(bench.port, method="GET", path="/healthz", count=50, clients=clients, run=run)
    hammer(
        bench.port, method="POST", path="/orders", body=ORDER_BODY, expect=201,
        count=10, clients=2, run=run,
    )  # fmt: skip
    drain_noop(bench, 200, paused=False)
    drain_deliveries(bench, 200, 50, paused=False)
    bench.wait("the warm-up to settle", lambda: orders_settled(run, 10))


def load_average() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def run_phase(
    phase: str, bench: Bench, options: dict[str, Any], result: dict[str, Any]
) -> dict[str, Any] | None:
    """One measurement (the earlier ones' figures in ``result``); None if it was skipped."""
    if phase == "orders":
        say(f"orders: {options['orders']} over HTTP, end to end")
        return measure_orders(bench, orders=options["orders"], clients=options["clients"])
    if phase == "http":
        say("http: GET /healthz, then POST /orders, the workers paused")
        return measure_http(
            bench,
            requests=options["http_requests"],
            healthz_requests=options["healthz_requests"],
            clients=options["clients"],
        )
    if phase == "drain":
        say(f"drain: {options['deliveries']} no-op tasks, then deliveries")
        return measure_drain(bench, count=options["deliveries"], batch=options["publish_batch"])
    if phase == "latency":
        measured = result.get("drain", {}).get("deliveries_per_s")
        rate_per_s = options["latency_rate"] or (measured / 4 if measured else 25.0)
        say(f"latency: {rate_per_s:.0f}/s for {options['latency_seconds']} s, each")
        return measure_latency(bench, rate_per_s=rate_per_s, seconds=options["latency_seconds"])
    if phase == "websocket":
        say(f"websocket: {options['ws_clients']} clients, {options['ws_rate']:.0f} events/s")
        return measure_websocket(
            bench,
            clients=options["ws_clients"],
            rate_per_s=options["ws_rate"],
            seconds=options["ws_seconds"],
            batch=options["ws_batch"],
        )
    if phase == "rss" and options["rss_deliveries"]:
        say(f"rss: worker memory over {options['rss_deliveries']} deliveries")
        return measure_rss(bench, count=options["rss_deliveries"], batch=options["publish_batch"])
    return None


def run_variant(options: dict[str, Any], log: Path) -> dict[str, Any]:
    """Every phase named in ``options["phases"]``, on one stack; the figures as a dict."""
    configure("eventhub-bench")  # this process publishes like a web process of the variant
    phases: list[str] = options["phases"]
    result: dict[str, Any] = {
        "database": prepare_database(),
        "tracing": enabled(),
        "load_average_before": load_average(),
    }
    timer = time.monotonic()
    with running_stack(log, options["concurrency"]) as bench:
        result["database"]["conn_max_age"] = settings.DATABASES["default"]["CONN_MAX_AGE"]
        result["worker"] = {
            "concurrency": bench.concurrency,
            "prefetch_multiplier": settings.CELERY_WORKER_PREFETCH_MULTIPLIER,
            "acks_late": settings.CELERY_TASK_ACKS_LATE,
        }
        say("warming up")
        warm_up(bench, options["clients"])
        laps = result["phase_seconds"] = {"start_and_warm_up": round(time.monotonic() - timer, 1)}
        for phase in [p for p in PHASES if p in phases]:
            clock = time.monotonic()
            measured = run_phase(phase, bench, options, result)
            if measured is not None:
                result[phase] = measured
                laps[phase] = round(time.monotonic() - clock, 1)
    result["load_average_after"] = load_average()
    result["seconds"] = round(time.monotonic() - timer, 1)
    return result
