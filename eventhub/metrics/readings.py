"""The metrics the database holds, read at scrape time: counts, latency histograms, gauges.

Every figure is a grouped aggregate over the rows that record it, so it is the same whichever
process asks and survives any restart. Nothing here writes. The bus deletes no Event,
Delivery or Attempt row (there is no pruning), so the ``_total`` figures only grow, with the
exceptions named in each docstring. Costs: the attempt families are counted incrementally
(``attempt_tally``); events and deliveries by outcome are grouped counts over their
``(event_type, id)`` and status indexes; the gauges use the ``(status, dispatched_at,
next_attempt_at)`` index.
"""

from __future__ import annotations

from django.db.models import Count, F, Min, Q
from django.db.models.fields.json import KeyTextTransform
from django.utils import timezone

from ..bus import subscribers
from ..bus.builtin_events import EventProcessingFailed
from ..bus.dispatch import DISPATCHABLE
from ..bus.holds import held_for_dispatch
from ..models import Attempt, Delivery, Event
from .attempt_tally import (
    FINISHED,
    HANDLER_BUCKETS,
    QUEUE_WAIT_BUCKETS,
    Histogram,
    Tally,
    attempt_tally,
)
from .families import Family, HistogramSample, Labels, Sample

DELIVERY_OUTCOMES = ("succeeded", "failed", "dead", "lost", "discarded", "resolved")


def _counts(by: dict[Labels, float], keys: list[Labels]) -> list[Sample]:
    """Samples for every key (zero where no row counted), known keys first, sorted."""
    merged = dict.fromkeys(keys, 0.0) | by
    return [Sample(labels, value) for labels, value in sorted(merged.items())]


def _known_subscribers() -> list[str]:
    return sorted(s.name for s in subscribers.all_subscribers())


def events_published() -> Family:
    """Events recorded in the outbox, by type: every row of the event store."""
    rows = Event.objects.values("event_type").annotate(n=Count("pk"))
    return Family(
        "eventhub_events_published_total",
        "counter",
        "Events published (recorded in the outbox), by event type.",
        _counts({(("event_type", r["event_type"]),): r["n"] for r in rows}, []),
    )


def deliveries_by_outcome() -> Family:
    """How deliveries ended. Outcomes are events, not a partition of the rows:

    - succeeded, discarded, resolved: deliveries in that (final) state (resolved: a dead
      letter replaced by an operator's correction event, which counts as its own delivery);
    - failed: at-most-once deliveries whose one attempt failed (never retried);
    - lost: at-most-once deliveries whose one attempt was lost with its worker;
    - dead: times a delivery was dead-lettered, counted from the ``event.processing.failed``
      events the bus records each time, so the figure never drops: a dead letter that is
      retried and ends again also counts under its new outcome, one discarded also counts
      under ``discarded``.
    """
    ended = (
        Delivery.objects.filter(
            status__in=[
                Delivery.Status.SUCCEEDED,
                Delivery.Status.FAILED,
                Delivery.Status.DISCARDED,
                Delivery.Status.RESOLVED,
            ]
        )
        .values("subscriber", "status")
        .annotate(n=Count("pk"))
    )
    by: dict[Labels, float] = {}
    for row in ended:
        by[(("subscriber", row["subscriber"]), ("outcome", row["status"]))] = row["n"]
    lost = (
        Attempt.objects.filter(
            delivery__status=Delivery.Status.FAILED,
            outcome=Attempt.Outcome.LOST,
            number=F("delivery__attempts"),
        )
        .values("delivery__subscriber")
        .annotate(n=Count("pk"))
    )
    for row in lost:
        name = row["delivery__subscriber"]
        by[(("subscriber", name), ("outcome", "lost"))] = row["n"]
        failed = (("subscriber", name), ("outcome", "failed"))
        by[failed] = by.get(failed, 0) - row["n"]
    dead = (
        Event.objects.filter(event_type=EventProcessingFailed.spec.event_type)
        .values(name=KeyTextTransform("subscriber", "data"))
        .annotate(n=Count("pk"))
    )
    for row in dead:
        by[(("subscriber", row["name"]), ("outcome", "dead"))] = row["n"]
    keys = [
        (("subscriber", name), ("outcome", outcome))
        for name in _known_subscribers()
        for outcome in DELIVERY_OUTCOMES
    ]
    return Family(
        "eventhub_deliveries_total",
        "counter",
        "Deliveries by subscriber and how they ended (dead: times dead-lettered).",
        _counts(by, keys),
    )


def attempts_by_outcome(tally: Tally | None = None) -> Family:
    """Finished attempts by outcome: succeeded, failed (the handler raised), lost (its worker
    died or its lease ran out). Running attempts are not counted until they finish."""
    tally = tally if tally is not None else attempt_tally()
    keys = [
        (("subscriber", name), ("outcome", str(outcome)))
        for name in _known_subscribers()
        for outcome in FINISHED
    ]
    by = {
        (("subscriber", name), ("outcome", outcome)): n
        for (name, outcome), n in tally.attempts.items()
    }
    return Family(
        "eventhub_attempts_total",
        "counter",
        "Finished attempts of deliveries by subscriber and outcome.",
        _counts(by, keys),
    )


def _histograms(
    label: str, by: dict[str, Histogram], buckets: tuple[float, ...], known: list[str]
) -> list[HistogramSample]:
    empty = Histogram(tuple(0 for _ in buckets), 0, 0.0)
    return [
        HistogramSample(
            ((label, name),),
            tuple(zip(buckets, by.get(name, empty).cumulative, strict=True)),
            by.get(name, empty).count,
            by.get(name, empty).total,
        )
        for name in sorted(set(known) | by.keys())
    ]


def handler_durations(tally: Tally | None = None) -> Family:
    """How long handlers ran: every attempt that succeeded or failed, finished - started.

    Lost attempts are left out: their end is when the relay noticed, not when the handler
    stopped. So the count equals ``attempts_total`` of succeeded + failed.
    """
    tally = tally if tally is not None else attempt_tally()
    return Family(
        "eventhub_handler_duration_seconds",
        "histogram",
        "Handler run time per attempt (succeeded or failed), by subscriber.",
        _histograms("subscriber", tally.durations, HANDLER_BUCKETS, _known_subscribers()),
    )


def queue_waits(tally: Tally | None = None) -> Family:
    """From publish (the event's commit) to the start of its delivery's first attempt.

    First attempts only: when a retry was dispatched is not kept once it has run (the
    delivery row holds the latest dispatch only), and the wait before a retry is mostly
    the backoff the policy chose, which is not queueing. So the count equals the number of
    deliveries that have started.
    """
    tally = tally if tally is not None else attempt_tally()
    return Family(
        "eventhub_queue_wait_seconds",
        "histogram",
        "Publish to the start of a delivery's first attempt, by queue.",
        _histograms("queue", tally.waits, QUEUE_WAIT_BUCKETS, subscribers.queues()),
    )


def dead_letters() -> Family:
    """Deliveries dead now (this one drops when a dead letter is retried or discarded)."""
    rows = (
        Delivery.objects.filter(status=Delivery.Status.DEAD)
        .values("subscriber")
        .annotate(n=Count("pk"))
    )
    return Family(
        "eventhub_dead_letters",
        "gauge",
        "Dead letters waiting for an operator, by subscriber.",
        _counts(
            {(("subscriber", r["subscriber"]),): r["n"] for r in rows},
            [(("subscriber", name),) for name in _known_subscribers()],
        ),
    )


def outbox_lag() -> Family:
    """Age of the oldest delivery that is due and not handed to the broker (0 if none).

    Normally the publisher dispatches on commit and this stays near 0; it grows while the
    broker is down or when the relay has stopped. A paused subscriber's held deliveries are
    left out: they wait on purpose (``bus/pauses.py``).
    """
    now = timezone.now()
    oldest = Delivery.objects.filter(
        ~held_for_dispatch(),
        status__in=DISPATCHABLE,
        dispatched_at__isnull=True,
        next_attempt_at__lte=now,
    ).aggregate(oldest=Min("next_attempt_at"))["oldest"]
    lag = max((now - oldest).total_seconds(), 0.0) if oldest else 0.0
    return Family(
        "eventhub_outbox_lag_seconds",
        "gauge",
        "Age of the oldest due delivery not yet handed to the broker.",
        [Sample((), lag)],
    )


def deliveries_in_flight() -> Family:
    """Deliveries handed to the broker and not finished: queued (dispatched) or running."""
    rows = (
        Delivery.objects.filter(
            Q(status=Delivery.Status.RUNNING)
            | Q(status__in=DISPATCHABLE, dispatched_at__isnull=False)
        )
        .values("queue")
        .annotate(n=Count("pk"))
    )
    return Family(
        "eventhub_deliveries_in_flight",
        "gauge",
        "Deliveries queued at the broker or running, by queue.",
        _counts(
            {(("queue", r["queue"]),): r["n"] for r in rows},
            [(("queue", q),) for q in subscribers.queues()],
        ),
    )


def read_all() -> list[Family]:
    """Every database family, in the order the scrape endpoint prints them."""
    tally = attempt_tally()
    return [
        events_published(),
        deliveries_by_outcome(),
        attempts_by_outcome(tally),
        handler_durations(tally),
        queue_waits(tally),
        dead_letters(),
        outbox_lag(),
        deliveries_in_flight(),
    ]
