"""Benchmark plugin: ``bench.pinged`` with one at-least-once no-op subscriber, and its baseline.

Installed in every process of a benchmark run (``EVENTHUB_PLUGINS=eventhub.devtools.bench.plugin``):

- ``bench.noop`` subscribes to ``bench.pinged`` on queue ``bench``; its handler does nothing,
  so a delivery costs exactly what the bus costs (outbox rows, dispatch, claim, attempt
  record, trace span, success mark, live notice).
- ``eventhub.noop`` is the baseline: a Celery task with the delivery task's options (acks
  late, rejected on worker loss, no result) on the same queue of the same worker. It records
  ``"<sent>,<received>"`` (epoch seconds) in a Redis list, one RPUSH, so the benchmark can
  count completions and measure send -> start latency.
- ``eventhub.naive`` and ``eventhub.naive_order`` (``eventhub.devtools.bench.naive``): the
  naive peer, registered with the worker by importing that module here.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import redis
from celery import shared_task
from django.conf import settings
from django.db import transaction

from eventhub.bus import DomainEvent, DomainSignal, Guarantee, Received, event
from eventhub.bus import subscribers as registry

from . import naive  # noqa: F401  (the naive peer's tasks, registered with Celery)

QUEUE = "bench"
SUBSCRIBER = "bench.noop"
NOOP_TASK = "eventhub.noop"


@event("bench.pinged", source="benchmark", aggregate="bench", aggregate_key="ping_id")
@dataclass(frozen=True)
class BenchPinged(DomainEvent):
    """One benchmark event; every ping is its own aggregate, as every order is."""

    ping_id: str
    run_id: str
    number: int


pinged = DomainSignal(BenchPinged)


def noop_handler(event: Received[BenchPinged]) -> None:
    """The subscriber under test: nothing but the bus around it."""


def install() -> None:
    registry.subscriber(SUBSCRIBER, on=BenchPinged, queue=QUEUE, guarantee=Guarantee.AT_LEAST_ONCE)(
        noop_handler
    )


def pings_publish(*, run_id: str, start: int, count: int) -> list[int]:
    """Publish ``count`` pings in one transaction (dispatched on commit); their positions."""
    positions = []
    with transaction.atomic():
        for number in range(start, start + count):
            responses = pinged.send(
                sender=BenchPinged,
                event=BenchPinged(ping_id=f"{run_id}-{number}", run_id=run_id, number=number),
            )
            positions.append(DomainSignal.recorded(responses).pk)
    return positions


_redis: Any = None


def _client() -> Any:
    global _redis
    if _redis is None:
        _redis = redis.Redis.from_url(settings.REDIS_URL)
    return _redis


@shared_task(name=NOOP_TASK, acks_late=True, reject_on_worker_lost=True, ignore_result=True)
def noop(key: str, sent_at: float) -> None:
    """The baseline task: record when it was sent and when it started, nothing else."""
    received = time.time()
    _client().rpush(key, f"{sent_at!r},{received!r}")
