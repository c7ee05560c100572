"""Synthetic ``probe.sent`` events for load tests and benchmarks of the live pages.

Probes go through the real outbox (validated, sequenced, recorded, announced after commit)
but no subscriber receives them, so a burst costs the broker and the workers nothing and
measures exactly the path from publishing to the browser.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from typing import Any

from django.db import transaction

from eventhub.bus import DomainEvent, DomainSignal, event
from eventhub.bus.context import bound


@event("probe.sent", source="load-generator", aggregate="probe", aggregate_key="run_id")
@dataclass(frozen=True)
class ProbeSent(DomainEvent):
    """One synthetic event of a load run."""

    run_id: str
    number: int
    """0-based number of the probe within its run."""
    sent_at: int
    """Epoch milliseconds, as the publisher saw it."""


probe_sent = DomainSignal(ProbeSent)


def probes_publish(*, run_id: str, start: int, count: int, flow_size: int) -> list[int]:
    """Record ``count`` probes in one transaction; returns their positions.

    Probe ``n`` belongs to flow ``<run_id>-<n // flow_size>`` and is caused by the probe
    before it in that flow, so each flow is a small causation chain.
    """
    positions: list[int] = []
    previous: dict[str, str] = {}
    with transaction.atomic():
        for number in range(start, start + count):
            flow = f"{run_id}-{number // flow_size}"
            with bound(correlation_id=flow, causation_id=previous.get(flow)):
                responses = probe_sent.send(
                    sender=ProbeSent,
                    event=ProbeSent(run_id=run_id, number=number, sent_at=int(time.time() * 1000)),
                )
            recorded = DomainSignal.recorded(responses)
            previous[flow] = str(recorded.event_id)
            positions.append(recorded.pk)
    return positions


def burst(
    *, rate: float, total: int, batch: int, flow_size: int, run_id: str = ""
) -> dict[str, Any]:
    """Publish ``total`` probes at ``rate`` per second, ``batch`` per transaction; a summary
    of what was published and the rate reached (``eventhub_burst`` prints it as JSON)."""
    run_id = run_id or f"burst-{uuid.uuid4().hex[:8]}"
    started = time.monotonic()
    published = 0
    positions: list[int] = []
    while published < total:
        due = started + published / rate
        delay = due - time.monotonic()
        if delay > 0:
            time.sleep(delay)  # pacing the publisher, not waiting for anything
        size = min(batch, total - published)
        positions += probes_publish(run_id=run_id, start=published, count=size, flow_size=flow_size)
        published += size
    elapsed = time.monotonic() - started
    return {
        "runId": run_id,
        "published": published,
        "seconds": round(elapsed, 3),
        "eventsPerSecond": round(published / elapsed, 1) if elapsed else None,
        "firstPosition": positions[0] if positions else None,
        "lastPosition": positions[-1] if positions else None,
    }
