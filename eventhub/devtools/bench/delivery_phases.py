"""The delivery phases, each beside its baselines in the same worker and queue: ``drain``
(deliveries/s of ``bench.pinged`` to one no-op subscriber vs ``eventhub.noop`` tasks and vs
the naive peer's tasks), ``latency`` (publish -> handler start at a steady rate vs the no-op
task's send -> start) and ``rss`` (worker memory before and after M deliveries).
"""

from __future__ import annotations

import contextlib
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db.models import Max

from eventhub.models import Attempt, Delivery

from ..process_groups import Child
from . import naive, plugin
from .stack import UNFINISHED, Bench, cpu_seconds, idle, process_tree
from .stats import growth, rate, ratio, summarize

RSS_BACKLOG = 5000
"""Unfinished deliveries at most while the RSS phase publishes (REDISPATCH_AFTER is 600 s)."""


def noop_send(key: str) -> None:
    """The baseline's enqueue, with the options dispatch gives a delivery."""
    timeout = float(settings.EVENTHUB["DEFAULT_TIMEOUT_SECONDS"])
    plugin.noop.apply_async(
        args=[key, time.time()],
        queue=plugin.QUEUE,
        soft_time_limit=timeout,
        time_limit=timeout + 5,
        retry=False,
    )


def _noop_records(bench: Bench, key: str) -> list[tuple[float, float]]:
    rows = bench.redis_client().lrange(key, 0, -1)
    pairs = (row.decode().split(",") for row in rows)
    return [(float(sent), float(received)) for sent, received in pairs]


def _wait_noop(bench: Bench, key: str, count: int) -> list[tuple[float, float]]:
    client = bench.redis_client()
    bench.wait(f"{count} no-op tasks", lambda: client.llen(key) >= count)
    records = _noop_records(bench, key)
    client.delete(key)
    return records


def drain_noop(bench: Bench, count: int, *, paused: bool) -> dict[str, Any]:
    """``count`` no-op tasks; with ``paused``, all enqueued before the worker may take one."""
    key = f"bench:noop:{uuid.uuid4().hex}"
    cpu = cpu_seconds(bench.worker)
    started = time.time()
    with bench.workers_paused() if paused else contextlib.nullcontext():
        for _ in range(count):
            noop_send(key)
        published = time.time()
    records = _wait_noop(bench, key, count)
    cpu = cpu_seconds(bench.worker) - cpu
    last = max(r[1] for r in records)
    return {
        "count": count,
        "worker_cpu_ms_each": round(cpu * 1000 / count, 3),
        "per_s": rate(count, last - (published if paused else started)),
        "publish_per_s": rate(count, published - started),
    }


def drain_naive(bench: Bench, count: int) -> dict[str, Any]:
    """``count`` naive-peer tasks, all enqueued before the worker may take one."""
    run_id = f"naive-{uuid.uuid4().hex[:6]}"
    timeout = float(settings.EVENTHUB["DEFAULT_TIMEOUT_SECONDS"])
    cpu = cpu_seconds(bench.worker)
    started = time.time()
    with bench.workers_paused():
        for number in range(count):
            naive.naive.apply_async(
                args=[run_id, number, time.time()],
                queue=plugin.QUEUE,
                soft_time_limit=timeout,
                time_limit=timeout + 5,
                retry=False,
            )
        published = time.time()
    bench.wait(f"{count} naive tasks", lambda: naive.naive_runs(run_id).count() >= count)
    cpu = cpu_seconds(bench.worker) - cpu
    last = (
        Attempt.objects.filter(delivery__in=naive.naive_runs(run_id))
        .aggregate(last=Max("finished_at"))["last"]
        .timestamp()
    )
    return {
        "count": count,
        "worker_cpu_ms_each": round(cpu * 1000 / count, 3),
        "per_s": rate(count, last - published),
        "publish_per_s": rate(count, published - started),
    }


@dataclass
class PingRun:
    run_id: str
    low: int = 0
    high: int = 0

    def deliveries(self) -> Any:
        return Delivery.objects.filter(
            subscriber=plugin.SUBSCRIBER, event_id__gte=self.low, event_id__lte=self.high
        )

    def attempts(self) -> Any:
        return Attempt.objects.filter(
            delivery__subscriber=plugin.SUBSCRIBER,
            delivery__event_id__gte=self.low,
            delivery__event_id__lte=self.high,
        )

    def publish(self, start: int, count: int) -> None:
        positions = plugin.pings_publish(run_id=self.run_id, start=start, count=count)
        self.low = self.low or positions[0]
        self.high = positions[-1]

    def unfinished(self) -> int:
        return int(self.deliveries().filter(status__in=UNFINISHED).count())

    def wait(self, bench: Bench) -> None:
        bench.wait(
            f"the deliveries of {self.run_id}",
            lambda: not self.deliveries().filter(status__in=UNFINISHED).exists(),
        )


def drain_deliveries(
    bench: Bench, count: int, batch: int, *, paused: bool, backlog: int = 0
) -> dict[str, Any]:
    """``count`` pings through the outbox, ``batch`` per commit; with ``paused``, every one is
    recorded and handed to the broker before the worker may take one, so that the rate is the
    worker's drain rate alone; otherwise publishing and draining overlap (end to end).

    ``backlog`` (not paused) holds the publisher back while that many deliveries are
    unfinished, so that none waits in the queue long enough for the relay to redispatch it.
    """
    run = PingRun(f"drain-{uuid.uuid4().hex[:6]}")
    cpu = cpu_seconds(bench.worker)
    started = time.time()
    with bench.workers_paused() if paused else contextlib.nullcontext():
        for start in range(0, count, batch):
            while backlog and run.high and run.unfinished() > backlog:
                time.sleep(0.2)  # waiting for the worker to catch up
            run.publish(start, min(batch, count - start))
        published = time.time()
    run.wait(bench)
    cpu = cpu_seconds(bench.worker) - cpu
    succeeded = run.deliveries().filter(status=Delivery.Status.SUCCEEDED).count()
    last = run.attempts().aggregate(last=Max("finished_at"))["last"].timestamp()
    return {
        "count": count,
        "worker_cpu_ms_each": round(cpu * 1000 / count, 3),
        "succeeded": succeeded,
        "per_s": rate(count, last - (published if paused else started)),
        "publish_per_s": rate(count, published - started),
        "publish_batch": batch,
    }


def measure_drain(bench: Bench, *, count: int, batch: int) -> dict[str, Any]:
    """Drain rates: queue filled while the worker is paused, then timed from resume to last.

    Baselines: the no-op task and the naive peer (a plain task doing 3 ORM writes). Also the
    publishing rates: outbox + dispatch per event vs a bare ``apply_async``.
    """
    bench.wait("the workers to be idle", idle)
    noop = drain_noop(bench, count, paused=True)
    naive_peer = drain_naive(bench, count)
    deliveries = drain_deliveries(bench, count, batch, paused=True)
    cpu_noop = noop["worker_cpu_ms_each"]
    return {
        "count": count,
        "deliveries_per_s": deliveries["per_s"],
        "noop_per_s": noop["per_s"],
        "naive_per_s": naive_peer["per_s"],
        "ratio": ratio(deliveries["per_s"], noop["per_s"]),
        "ratio_naive": ratio(deliveries["per_s"], naive_peer["per_s"]),
        "publish_per_s": {
            "deliveries": deliveries["publish_per_s"],
            "noop": noop["publish_per_s"],
            "naive": naive_peer["publish_per_s"],
        },
        "worker_cpu_ms_each": {
            "deliveries": deliveries["worker_cpu_ms_each"],
            "noop": cpu_noop,
            "naive": naive_peer["worker_cpu_ms_each"],
        },
        "cpu_ratio_noop": ratio(deliveries["worker_cpu_ms_each"], cpu_noop),
        "deliveries": deliveries,
        "noop": noop,
        "naive": naive_peer,
    }


# --- Latency at a steady rate ---------------------------------------------------------------


def _paced(rate_per_s: float, count: int, send: Callable[[int], None]) -> float:
    """Call ``send(i)`` ``count`` times at ``rate_per_s``; returns the rate reached."""
    started = time.monotonic()
    for i in range(count):
        delay = started + i / rate_per_s - time.monotonic()
        if delay > 0:
            time.sleep(delay)  # pacing the publisher
        send(i)
    elapsed = time.monotonic() - started
    return round(count / elapsed, 1) if elapsed else float(count)


def measure_latency(bench: Bench, *, rate_per_s: float, seconds: float) -> dict[str, Any]:
    """publish -> handler start vs the no-op task's send -> start, same rate, one at a time."""
    count = max(20, int(rate_per_s * seconds))
    key = f"bench:latency:{uuid.uuid4().hex}"
    noop_rate = _paced(rate_per_s, count, lambda _: noop_send(key))
    noop_ms = [(received - sent) * 1000 for sent, received in _wait_noop(bench, key, count)]

    run = PingRun(f"latency-{uuid.uuid4().hex[:6]}")
    delivery_rate = _paced(rate_per_s, count, lambda i: run.publish(i, 1))
    run.wait(bench)
    rows = run.attempts().filter(number=1).values_list("started_at", "delivery__event__timestamp")
    delivery_ms = [started.timestamp() * 1000 - published for started, published in rows]

    noop, delivery = summarize(noop_ms), summarize(delivery_ms)
    return {
        "rate_per_s": round(rate_per_s, 1),
        "count": count,
        "rate_reached": {"deliveries": delivery_rate, "noop": noop_rate},
        "delivery_ms": delivery,
        "noop_ms": noop,
        "p99_over_noop_ms": (
            round(delivery["p99"] - noop["p99"], 1)
            if delivery["p99"] is not None and noop["p99"] is not None
            else None
        ),
    }


# --- Worker memory --------------------------------------------------------------------------


def worker_rss(worker: Child) -> dict[str, Any]:
    main, *pool = process_tree(worker)
    mb = 2**20
    return {
        "main_mb": round(main.memory_info().rss / mb, 1),
        "pool_mb": sorted(round(p.memory_info().rss / mb, 1) for p in pool),
        "total_mb": round(sum(p.memory_info().rss for p in [main, *pool]) / mb, 1),
        "pool_pids": sorted(p.pid for p in pool),
    }


def measure_rss(bench: Bench, *, count: int, batch: int) -> dict[str, Any]:
    bench.wait("the workers to be idle", idle)
    before = worker_rss(bench.worker)
    drained = drain_deliveries(bench, count, batch, paused=False, backlog=RSS_BACKLOG)
    after = worker_rss(bench.worker)
    return {
        "deliveries": count,
        "deliveries_per_s_end_to_end": drained["per_s"],
        "before": before,
        "after": after,
        "growth": growth(before["total_mb"], after["total_mb"]),
        "same_pool": before["pool_pids"] == after["pool_pids"],
    }
