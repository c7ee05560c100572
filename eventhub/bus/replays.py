"""Replaying recorded events to replayable subscribers, as new delivery generations.

A replay never touches the original deliveries. Each (event, subscriber) it sends gets a
delivery of its own, generation n (the original is 0, the first replay 1, ...), and an
effectively-once subscriber keeps its idempotency record per generation: the replayed
event is applied once per replay, even where the original applied, and a duplicate message
of the replay is still a no-op.

Only subscribers that declare ``replayable=True`` (projections, read models) may be
replayed to; naming another one refuses the whole request and writes nothing.

What is sent for one event follows what was sent when it was recorded: its type's
subscribers now (a new read model can be built from history), except a pair whose original
delivery an operator replaced by a correction (``resolved``) or decided against
(``discarded``), and a correction event goes only to the subscriber it corrects.

Replays run as a ``RetryBatch`` of kind ``replay`` (``retry_batches``): paced by the relay
at the batch's rate, with live progress, cancel and audit. They are delivered in recorded
order: a slice is handed over in one dispatch (one message per queue, run in order), and
a slice waits while an earlier delivery of the same aggregate and subscriber is unfinished
(``retry_batches._held_back``), so a projection sees each flow's events as they happened.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import partial

from django.conf import settings
from django.contrib.admin.models import ADDITION, CHANGE, LogEntry
from django.db import IntegrityError, transaction
from django.db.models import Max
from django.utils import timezone

from .. import live
from ..models import Delivery, Event, RetryBatch
from . import dispatch, subscribers
from .reasons import reason_checked

MAX_REPLAY_ITEMS = 50_000
"""The most (event, subscriber) pairs one batch may carry: its list is one JSON value that
every relay pass reads while it runs."""
MAX_RATE = 1000
SKIPPED_ORIGINALS = (Delivery.Status.RESOLVED, Delivery.Status.DISCARDED)
UNREAD = ("data", "trace_context")
"""What a plan never reads of an event (a window may hold many)."""


class ReplayRefused(ValueError):
    """A replay or redrive that is not allowed; the message starts with the faulty field."""


@dataclass(frozen=True)
class ReplayItem:
    """One delivery a replay would make."""

    event_pk: int
    event_id: str
    event_type: str
    correlation_id: str
    subscriber: str
    generation: int
    """The generation it gets if sent now (the highest so far + 1)."""

    def describe(self) -> str:
        return (
            f"#{self.event_pk} {self.event_type} {self.event_id} -> {self.subscriber} "
            f"(generation {self.generation})"
        )


def replayable_subscriber(name: str, *, field: str = "subscriber") -> subscribers.Subscriber:
    """The registered, replayable subscriber ``name``; ReplayRefused naming it otherwise."""
    sub = subscribers.get(name)
    if sub is None:
        raise ReplayRefused(f"{field}: no subscriber named {name!r}")
    if not sub.replayable:
        raise ReplayRefused(
            f"{field}: {name} is not replayable (it does not declare replayable=True; "
            "only projections and read models may be re-run)"
        )
    return sub


def check_rate(rate: object, *, field: str = "rate") -> int:
    if isinstance(rate, bool) or not isinstance(rate, int) or not 1 <= rate <= MAX_RATE:
        raise ReplayRefused(
            f"{field}: must be a whole number of deliveries per second, 1 to {MAX_RATE}"
        )
    return rate


def default_rate() -> int:
    return int(settings.EVENTHUB["RETRY_RATE_PER_SECOND"])


def plan(events: Iterable[Event], *, chosen: Sequence[str] | None = None) -> list[ReplayItem]:
    """What replaying ``events`` (in recorded order) to ``chosen`` (default: every
    replayable subscriber of each event) would send; ReplayRefused names a subscriber that
    is unknown or not replayable. Nothing is written."""
    names = list(dict.fromkeys(chosen or []))
    for name in names:
        replayable_subscriber(name)
    ordered = sorted(events, key=lambda e: e.pk)
    if not ordered:
        return []
    pairs: list[tuple[Event, str]] = []
    for event in ordered:
        if event.correction:
            targets = [event.correction.get("subscriber", "")]
        else:
            targets = [s.name for s in subscribers.for_event_type(event.event_type)]
        for name in targets:
            sub = subscribers.get(name)
            if sub is None or not sub.replayable or (names and name not in names):
                continue
            pairs.append((event, name))
    if len(pairs) > MAX_REPLAY_ITEMS:
        raise ReplayRefused(
            f"events: {len(pairs)} deliveries is more than one replay may send "
            f"({MAX_REPLAY_ITEMS}); choose a narrower flow, window or subscriber"
        )
    event_pks = {e.pk for e, _ in pairs}
    skipped = set(
        Delivery.objects.filter(
            event_id__in=event_pks, generation=0, status__in=SKIPPED_ORIGINALS
        ).values_list("event_id", "subscriber")
    )
    latest = {
        (row["event_id"], row["subscriber"]): row["last"]
        for row in Delivery.objects.filter(event_id__in=event_pks)
        .values("event_id", "subscriber")
        .annotate(last=Max("generation"))
    }
    return [
        ReplayItem(
            event_pk=event.pk,
            event_id=str(event.event_id),
            event_type=event.event_type,
            correlation_id=event.correlation_id,
            subscriber=name,
            generation=latest.get((event.pk, name), -1) + 1,
        )
        for event, name in pairs
        if (event.pk, name) not in skipped
    ]


def flow_events(correlation_id: str) -> list[Event]:
    """The flow's events in recorded order; ReplayRefused if it has none."""
    correlation_id = (correlation_id or "").strip()
    if not correlation_id:
        raise ReplayRefused("correlation_id: is required")
    events = list(Event.objects.filter(correlation_id=correlation_id).defer(*UNREAD).order_by("id"))
    if not events:
        raise ReplayRefused(f"correlation_id: no events recorded with ID {correlation_id!r}")
    return events


def flow_plan(
    correlation_ids: Sequence[str], *, chosen: Sequence[str] | None = None
) -> list[ReplayItem]:
    """The replay of whole flows, one after the other, each in recorded order."""
    if not correlation_ids:
        raise ReplayRefused("correlation_id: is required")
    items: list[ReplayItem] = []
    for correlation_id in dict.fromkeys(correlation_ids):
        items.extend(plan(flow_events(correlation_id), chosen=chosen))
        if len(items) > MAX_REPLAY_ITEMS:  # the cap is per replay, not per flow
            raise ReplayRefused(
                f"correlation_id: these flows make more than {MAX_REPLAY_ITEMS} deliveries; "
                "choose fewer flows"
            )
    if not items:
        names = ", ".join(chosen) if chosen else "no replayable subscriber"
        raise ReplayRefused(
            f"subscriber: {names} receives none of the events of "
            f"{', '.join(dict.fromkeys(correlation_ids))}; nothing to replay"
        )
    return items


def replay_start(
    items: Sequence[ReplayItem],
    *,
    user_id: int | None,
    reason: str,
    what: str,
    rate: int | None = None,
) -> RetryBatch:
    """A replay batch for the relay to carry out at ``rate``, with one audit entry saying
    who asked, why (required) and what. Nothing is sent before the relay takes it up."""
    reason = (reason or "").strip()
    if not reason:
        raise ReplayRefused("reason: a reason is required to replay events")
    reason_checked(reason, ReplayRefused)
    rate = check_rate(rate if rate is not None else default_rate())
    if not items:
        raise ReplayRefused("events: nothing to replay")
    with transaction.atomic():
        batch = RetryBatch.objects.create(
            kind=RetryBatch.Kind.REPLAY,
            requested_by_id=user_id,
            replays=[[item.event_pk, item.subscriber] for item in items],
            total=len(items),
            rate_per_second=rate,
            reason=f"{what}: {reason}"[:200],
        )
        if user_id is not None:
            LogEntry.objects.log_actions(
                user_id=user_id,
                queryset=RetryBatch.objects.filter(pk=batch.pk),
                action_flag=ADDITION,
                change_message=(
                    f"Started: replay {len(items)} deliveries ({what}) at {rate}/s. "
                    f"Reason: {reason[:1000]}"
                ),
                single_object=False,
            )
        live.retry_batch_changed()
    return batch


def _new_delivery(
    event: Event, sub: subscribers.Subscriber, generation: int, now: datetime
) -> Delivery:
    return Delivery.objects.create(
        event=event,
        subscriber=sub.name,
        generation=generation,
        queue=sub.queue,
        guarantee=sub.guarantee.value,
        max_attempts=sub.max_attempts,
        next_attempt_at=now,
    )


def replay_deliver(pairs: Sequence[Sequence[object]], *, now: datetime | None = None) -> list[int]:
    """Make the next generation's delivery for each ``[event pk, subscriber]`` and dispatch
    them once committed, in the order given; the ids made (a pair whose event or subscriber
    is gone, or no longer replayable, is skipped). Runs in the caller's transaction."""
    now = now or timezone.now()
    wanted = [(int(pk), str(name)) for pk, name in pairs]  # type: ignore[call-overload]
    events = Event.objects.in_bulk([pk for pk, _ in wanted])
    latest = {
        (row["event_id"], row["subscriber"]): row["last"]
        for row in Delivery.objects.filter(event_id__in=events)
        .values("event_id", "subscriber")
        .annotate(last=Max("generation"))
    }
    made: list[int] = []
    for pk, name in wanted:
        sub = subscribers.get(name)
        event = events.get(pk)
        if event is None or sub is None or not sub.replayable:
            continue
        generation = latest.get((pk, name), -1) + 1
        latest[(pk, name)] = generation

        try:
            with transaction.atomic():
                delivery = _new_delivery(event, sub, generation, now)
        except IntegrityError:  # another replay took this generation: take the next
            generation = (
                Delivery.objects.filter(event=event, subscriber=sub.name).aggregate(
                    last=Max("generation")
                )["last"]
                + 1
            )
            latest[(pk, name)] = generation
            delivery = _new_delivery(event, sub, generation, now)
        made.append(delivery.pk)
    if made:
        live.delivery_changed()
        transaction.on_commit(partial(dispatch.dispatch, list(made)), robust=True)
    return made


def replayed_message(batch: RetryBatch) -> str:
    """The audit log's words for a delivery this replay batch made."""
    return f"Replayed ({batch.reason}; batch {batch.pk})"


def log_replayed(batch: RetryBatch, delivery_ids: list[int]) -> None:
    if delivery_ids and batch.requested_by_id is not None:
        LogEntry.objects.log_actions(
            user_id=batch.requested_by_id,
            queryset=Delivery.objects.filter(pk__in=delivery_ids),
            action_flag=CHANGE,
            change_message=replayed_message(batch),
            single_object=False,
        )
