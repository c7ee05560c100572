"""The metrics the database holds, read at scrape time: counts, latency histograms, gauges.

Every figure is a grouped aggregate over the rows that record it, so it is the same whichever
process asks and survives any restart. Nothing here writes. The bus deletes no Event,
Delivery or Attempt row (there is no pruning), so the ``_total`` figures only grow, with the
exceptions named in each docstring. Costs: each family is one grouped query; the counters
and histograms scan their table, the gauges use the ``(status, dispatched_at,
next_attempt_at)`` index.
"""

from __future__ import annotations

from datetime import timedelta

from django.db.models import Count, DurationField, ExpressionWrapper, F, Min, Q, Sum
from django.db.models.fields.json import KeyTextTransform
from django.utils import timezone

from ..bus import subscribers
from ..bus.builtin_events import EventProcessingFailed
from ..models import Attempt, Delivery, Event
from .families import Family, HistogramSample, Labels, Sample

HANDLER_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
"""Seconds; a handler's default time limit is 60 s (EVENTHUB_DEFAULT_TIMEOUT_SECONDS)."""
QUEUE_WAIT_BUCKETS = (*HANDLER_BUCKETS, 300.0, 600.0)
"""Up to 600 s, the relay's re-dispatch window (EVENTHUB_REDISPATCH_AFTER_SECONDS)."""

DELIVERY_OUTCOMES = ("succeeded", "failed", "dead", "lost", "discarded")
ATTEMPT_OUTCOMES = (Attempt.Outcome.SUCCEEDED, Attempt.Outcome.FAILED, Attempt.Outcome.LOST)
DISPATCHABLE = (Delivery.Status.PENDING, Delivery.Status.RETRYING)


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

    - succeeded, discarded: deliveries in that (final) state;
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


def attempts_by_outcome() -> Family:
    """Finished attempts by outcome: succeeded, failed (the handler raised), lost (its worker
    died or its lease ran out). Running attempts are not counted until they finish."""
    rows = (
        Attempt.objects.filter(outcome__in=ATTEMPT_OUTCOMES)
        .values("delivery__subscriber", "outcome")
        .annotate(n=Count("pk"))
    )
    by = {
        (("subscriber", r["delivery__subscriber"]), ("outcome", r["outcome"])): r["n"] for r in rows
    }
    keys = [
        (("subscriber", name), ("outcome", str(outcome)))
        for name in _known_subscribers()
        for outcome in ATTEMPT_OUTCOMES
    ]
    return Family(
        "eventhub_attempts_total",
        "counter",
        "Finished attempts of deliveries by subscriber and outcome.",
        _counts(by, keys),
    )


def _histogram(
    rows: object, group: str, label: str, buckets: tuple[float, ...], known: list[str]
) -> list[HistogramSample]:
    """Fold rows of ``{group, count, total, le_0 ...}`` into cumulative histogram samples."""
    samples: dict[str, HistogramSample] = {
        name: HistogramSample(((label, name),), tuple((b, 0) for b in buckets), 0, 0.0)
        for name in known
    }
    for row in rows:  # type: ignore[attr-defined]
        total = row["total"]
        seconds = total.total_seconds() if isinstance(total, timedelta) else float(total or 0)
        samples[row[group]] = HistogramSample(
            ((label, row[group]),),
            tuple((b, row[f"le_{i}"]) for i, b in enumerate(buckets)),
            row["count"],
            seconds,
        )
    return [samples[name] for name in sorted(samples)]


def _bucket_counts(value: str, buckets: tuple[float, ...]) -> dict[str, Count]:
    return {
        f"le_{i}": Count("pk", filter=Q(**{f"{value}__lte": timedelta(seconds=b)}))
        for i, b in enumerate(buckets)
    }


def handler_durations() -> Family:
    """How long handlers ran: every attempt that succeeded or failed, finished - started.

    Lost attempts are left out: their end is when the relay noticed, not when the handler
    stopped. So the count equals ``attempts_total`` of succeeded + failed.
    """
    duration = ExpressionWrapper(F("finished_at") - F("started_at"), output_field=DurationField())
    rows = (
        Attempt.objects.filter(outcome__in=[Attempt.Outcome.SUCCEEDED, Attempt.Outcome.FAILED])
        .annotate(duration=duration)
        .values("delivery__subscriber")
        .annotate(
            count=Count("pk"),
            total=Sum("duration"),
            **_bucket_counts("duration", HANDLER_BUCKETS),
        )
    )
    return Family(
        "eventhub_handler_duration_seconds",
        "histogram",
        "Handler run time per attempt (succeeded or failed), by subscriber.",
        _histogram(
            rows, "delivery__subscriber", "subscriber", HANDLER_BUCKETS, _known_subscribers()
        ),
    )


def queue_waits() -> Family:
    """From publish (the event's commit) to the start of its delivery's first attempt.

    First attempts only: when a retry was dispatched is not kept once it has run (the
    delivery row holds the latest dispatch only), and the wait before a retry is mostly
    the backoff the policy chose, which is not queueing. So the count equals the number of
    deliveries that have started.
    """
    wait = ExpressionWrapper(
        F("started_at") - F("delivery__event__recorded_at"), output_field=DurationField()
    )
    rows = (
        Attempt.objects.filter(number=1)
        .annotate(wait=wait)
        .values("delivery__queue")
        .annotate(
            count=Count("pk"), total=Sum("wait"), **_bucket_counts("wait", QUEUE_WAIT_BUCKETS)
        )
    )
    return Family(
        "eventhub_queue_wait_seconds",
        "histogram",
        "Publish to the start of a delivery's first attempt, by queue.",
        _histogram(rows, "delivery__queue", "queue", QUEUE_WAIT_BUCKETS, subscribers.queues()),
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
    broker is down or when the relay has stopped.
    """
    now = timezone.now()
    oldest = Delivery.objects.filter(
        status__in=DISPATCHABLE, dispatched_at__isnull=True, next_attempt_at__lte=now
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
    return [
        events_published(),
        deliveries_by_outcome(),
        attempts_by_outcome(),
        handler_durations(),
        queue_waits(),
        dead_letters(),
        outbox_lag(),
        deliveries_in_flight(),
    ]
