"""The transactional outbox: an event and its deliveries are rows in the publisher's transaction.

After that transaction commits, its deliveries are enqueued (``dispatch``), all the events of
one transaction together: one claim and a few messages per queue, not a round trip per event.
If the process dies in between or the broker is down, the relay finds the undispatched rows
later. A rolled-back transaction leaves nothing behind and enqueues nothing.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from django.db import connection, transaction
from django.utils import timezone

from .. import live
from ..models import AggregateSequence, Delivery, Event
from ..tracing import publish_span
from . import context, dispatch, subscribers
from .declarations import DomainEvent
from .schema import from_wire, to_wire


def next_sequence(aggregate_type: str, aggregate_id: str) -> int:
    """Hand out the next per-aggregate sequence number, atomically on SQLite and PostgreSQL."""
    table = connection.ops.quote_name(AggregateSequence._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} (aggregate_type, aggregate_id, last) VALUES (%s, %s, 1) "
            f"ON CONFLICT (aggregate_type, aggregate_id) DO UPDATE SET last = {table}.last + 1 "
            "RETURNING last",
            [aggregate_type, aggregate_id],
        )
        return int(cursor.fetchone()[0])


@dataclass
class AfterCommit:
    """The deliveries recorded in one transaction, dispatched together once it commits."""

    ids: list[int] = field(default_factory=list)

    def dispatch(self) -> None:
        ids, self.ids = self.ids, []
        dispatch.dispatch(ids)


def _dispatch_on_commit(ids: list[int]) -> None:
    """Add ``ids`` to this transaction's hand-off (registered with its first event).

    A hand-off whose callback a rolled-back savepoint discarded is replaced. Ids of
    deliveries rolled back with a savepoint after they joined one are harmless: the dispatch
    claim finds no such rows.
    """
    pending = getattr(connection, "_eventhub_after_commit", None)
    registered = [entry[1] for entry in getattr(connection, "run_on_commit", [])]
    if pending is not None and pending.dispatch in registered:
        pending.ids.extend(ids)
        return
    pending = AfterCommit(ids=list(ids))
    connection._eventhub_after_commit = pending  # type: ignore[attr-defined]
    transaction.on_commit(pending.dispatch, robust=True)  # at once outside a transaction


def forward(sender: Any, *, event: DomainEvent, **_: Any) -> Event:
    """The receiver of every domain signal (``DomainSignal.forward_to``): record its event."""
    return record(event)


def record(payload: DomainEvent) -> Event:
    """Validate ``payload`` and write it with one delivery per subscriber; dispatch on commit."""
    spec = payload.spec
    data = to_wire(payload)
    from_wire(spec.payload, data)  # the same checks a consumer's decoding will make
    flow = context.current()
    # No savepoint of its own inside the caller's transaction (two round trips per event):
    # a failure here then fails the caller's whole transaction, never a part of it.
    with transaction.atomic(savepoint=False), publish_span(spec.event_type) as trace:
        aggregate_id = payload.aggregate_id()
        event = Event.objects.create(
            event_type=spec.event_type,
            version=spec.version,
            source=spec.source,
            aggregate_type=spec.aggregate,
            aggregate_id=aggregate_id,
            sequence=next_sequence(spec.aggregate, aggregate_id),
            timestamp=int(time.time() * 1000),
            data=data,
            correlation_id=flow.correlation_id or context.new_correlation_id(),
            causation_id=flow.causation_id,
            trace_id=trace.trace_id,
            trace_context=trace.carrier,
        )
        trace.describe(event)
        now = timezone.now()
        deliveries = Delivery.objects.bulk_create(
            Delivery(
                event=event,
                subscriber=sub.name,
                queue=sub.queue,
                guarantee=sub.guarantee.value,
                max_attempts=sub.max_attempts,
                next_attempt_at=now,
            )
            for sub in subscribers.for_event_type(spec.event_type)
        )
        live.event_recorded()
    ids = [d.pk for d in deliveries]
    if ids:
        _dispatch_on_commit(ids)
    return event
