"""Attempts counted by outcome and into latency buckets, incrementally, per web process.

Counting every attempt at every scrape costs a scan of the whole table (0.7-1.3 s per
100,000 attempts on PostgreSQL on a loaded 2-CPU machine): too much for a table that only
grows. A finished attempt never changes again, so each process keeps the tally of attempts
up to a watermark id and, at each scrape, adds the range between the old and the new
watermark and counts the rest (the tail) afresh. Both are primary-key range scans.

The watermark only passes attempts that are finished and committed for good: it stops below
the oldest running attempt, and below any attempt started less than ``SETTLE_SECONDS`` ago
(an id is taken at insert time, so a lower id could still be in a transaction that has not
committed; the claim's transaction lasts milliseconds). The tail is therefore the attempts
of the last minute plus those behind a running one (a lease at most: the relay marks a
dead worker's attempt lost). A process starts from watermark 0: one full scan, then tails.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from django.db.models import Count, DurationField, ExpressionWrapper, F, Max, Min, Q, Sum
from django.utils import timezone

from ..models import Attempt

HANDLER_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
"""Seconds; a handler's default time limit is 60 s (EVENTHUB_DEFAULT_TIMEOUT_SECONDS)."""
QUEUE_WAIT_BUCKETS = (*HANDLER_BUCKETS, 300.0, 600.0)
"""Up to 600 s, the relay's re-dispatch window (EVENTHUB_REDISPATCH_AFTER_SECONDS)."""

FINISHED = (Attempt.Outcome.SUCCEEDED, Attempt.Outcome.FAILED, Attempt.Outcome.LOST)
TIMED = (Attempt.Outcome.SUCCEEDED, Attempt.Outcome.FAILED)
"""Lost attempts have no real end (it is when the relay noticed): not in the durations."""
SETTLE_SECONDS = 60.0


@dataclass(frozen=True)
class Histogram:
    cumulative: tuple[int, ...]
    """Per upper bound, how many observations were at most that."""
    count: int
    total: float

    def __add__(self, other: Histogram) -> Histogram:
        return Histogram(
            tuple(a + b for a, b in zip(self.cumulative, other.cumulative, strict=True)),
            self.count + other.count,
            self.total + other.total,
        )


@dataclass
class Tally:
    attempts: dict[tuple[str, str], int] = field(default_factory=dict)
    """(subscriber, outcome) -> finished attempts."""
    durations: dict[str, Histogram] = field(default_factory=dict)
    """subscriber -> handler run time of succeeded and failed attempts."""
    waits: dict[str, Histogram] = field(default_factory=dict)
    """queue -> publish to the start of each delivery's first attempt."""

    def __add__(self, other: Tally) -> Tally:
        def merge(a: dict[Any, Any], b: dict[Any, Any]) -> dict[Any, Any]:
            return {key: a[key] + b[key] if key in a and key in b else a.get(key, b.get(key))
                    for key in a.keys() | b.keys()}  # fmt: skip

        return Tally(
            merge(self.attempts, other.attempts),
            merge(self.durations, other.durations),
            merge(self.waits, other.waits),
        )


def _histogram(row: dict[str, Any], buckets: tuple[float, ...]) -> Histogram:
    total: timedelta | None = row["total"]  # a DurationField sum, on SQLite too
    return Histogram(
        tuple(row[f"le_{i}"] for i in range(len(buckets))),
        row["count"],
        total.total_seconds() if total else 0.0,
    )


def _bucketed(value: str, buckets: tuple[float, ...]) -> dict[str, Any]:
    return {
        "count": Count("pk"),
        "total": Sum(value),
        **{
            f"le_{i}": Count("pk", filter=Q(**{f"{value}__lte": timedelta(seconds=b)}))
            for i, b in enumerate(buckets)
        },
    }


def count_range(after: int, upto: int | None) -> Tally:
    """The tally of attempts with ``after < id <= upto`` (no upper end: ``None``)."""
    rows = Attempt.objects.filter(pk__gt=after)
    if upto is not None:
        rows = rows.filter(pk__lte=upto)
    tally = Tally()
    duration = ExpressionWrapper(F("finished_at") - F("started_at"), output_field=DurationField())
    for row in (
        rows.filter(outcome__in=FINISHED)
        .annotate(duration=duration)
        .values("delivery__subscriber", "outcome")
        .annotate(**_bucketed("duration", HANDLER_BUCKETS))
    ):
        name = row["delivery__subscriber"]
        tally.attempts[(name, row["outcome"])] = row["count"]
        if row["outcome"] in TIMED:
            histogram = _histogram(row, HANDLER_BUCKETS)
            if name in tally.durations:
                histogram = tally.durations[name] + histogram
            tally.durations[name] = histogram
    wait = ExpressionWrapper(
        F("started_at") - F("delivery__event__recorded_at"), output_field=DurationField()
    )
    for row in (
        rows.filter(number=1)
        .annotate(wait=wait)
        .values("delivery__queue")
        .annotate(**_bucketed("wait", QUEUE_WAIT_BUCKETS))
    ):
        tally.waits[row["delivery__queue"]] = _histogram(row, QUEUE_WAIT_BUCKETS)
    return tally


@dataclass
class _Settled:
    watermark: int = 0
    anchor: tuple[int, Any] | None = None
    """(id, started_at) of the last attempt at or below the watermark: if that row is gone,
    the table was emptied (between tests) and the tally starts again."""
    tally: Tally = field(default_factory=Tally)


_settled = _Settled()
_lock = threading.Lock()


def _next_watermark(after: int) -> int:
    tail = Attempt.objects.filter(pk__gt=after)
    cutoff = timezone.now() - timedelta(seconds=SETTLE_SECONDS)
    upto = tail.filter(started_at__lt=cutoff).aggregate(upto=Max("pk"))["upto"] or after
    running = tail.filter(outcome=Attempt.Outcome.RUNNING).aggregate(first=Min("pk"))["first"]
    if running is not None:
        upto = min(upto, running - 1)
    return max(upto, after)


def attempt_tally() -> Tally:
    """Every attempt so far: the settled tally plus the tail, counted now."""
    global _settled
    with _lock:
        if _settled.anchor is not None:
            pk, started_at = _settled.anchor
            if not Attempt.objects.filter(pk=pk, started_at=started_at).exists():
                _settled = _Settled()
        upto = _next_watermark(_settled.watermark)
        if upto > _settled.watermark:
            _settled.tally = _settled.tally + count_range(_settled.watermark, upto)
            _settled.watermark = upto
            _settled.anchor = (
                Attempt.objects.filter(pk__lte=upto)
                .order_by("-pk")
                .values_list("pk", "started_at")
                .first()
            )
        return _settled.tally + count_range(_settled.watermark, None)
