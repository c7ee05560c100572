"""Reads for the live timeline: events by position, deliveries, dead letters, counters.

Every function returns wire-ready dicts (camelCase keys) for the dashboard's websocket;
event data is passed through as JSON and only ever rendered as text by the page.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from django.db.models import Count, Max, OuterRef, Q, Subquery
from django.utils import timezone

from ..bus import subscribers
from ..bus.declarations import all_specs
from ..dead_letter_groups import dead_letter_fingerprint_groups
from ..models import Attempt, Delivery, Event, RetryBatch

IN_FLIGHT = (Delivery.Status.PENDING, Delivery.Status.RUNNING, Delivery.Status.RETRYING)
FAILURES = (Delivery.Status.DEAD, Delivery.Status.FAILED)
MAX_ERROR_CHARS = 500
EVENT_FIELDS = (
    "id",
    "event_id",
    "event_type",
    "version",
    "timestamp",
    "source",
    "aggregate_id",
    "sequence",
    "correlation_id",
    "causation_id",
    "trace_id",
    "data",
    "correction",
)


def _ms(moment: datetime | None) -> int | None:
    return int(moment.timestamp() * 1000) if moment else None


def event_json(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "position": row["id"],
        "eventId": str(row["event_id"]),
        "eventType": row["event_type"],
        "version": row["version"],
        "timestamp": row["timestamp"],
        "source": row["source"],
        "aggregateId": row["aggregate_id"],
        "sequence": row["sequence"],
        "correlationId": row["correlation_id"],
        "causationId": str(row["causation_id"]) if row["causation_id"] else None,
        "traceId": row["trace_id"] or None,
        "data": row["data"],
        "correction": row["correction"],  # an operator's edit & retry: what, for whom, who
    }


def events_after(*, position: int, limit: int) -> list[dict[str, Any]]:
    """Events recorded after ``position``, in recorded order."""
    rows = Event.objects.filter(id__gt=position).order_by("id").values(*EVENT_FIELDS)[:limit]
    return [event_json(r) for r in rows]


def events_at(*, positions: Iterable[int]) -> list[dict[str, Any]]:
    """The events among ``positions`` that exist (committed) by now."""
    wanted = list(positions)
    if not wanted:
        return []
    rows = Event.objects.filter(id__in=wanted).order_by("id").values(*EVENT_FIELDS)
    return [event_json(r) for r in rows]


def events_latest(*, limit: int) -> list[dict[str, Any]]:
    """The last ``limit`` events, in recorded order (a fresh page starts from these)."""
    rows = list(Event.objects.order_by("-id").values(*EVENT_FIELDS)[:limit])
    return [event_json(r) for r in reversed(rows)]


def positions_between(*, low: int, high: int) -> set[int]:
    """Positions in (low, high] that exist."""
    return set(Event.objects.filter(id__gt=low, id__lte=high).values_list("id", flat=True))


def latest_position() -> int:
    return Event.objects.aggregate(last=Max("id"))["last"] or 0


def flow_events(*, correlation_id: str, limit: int) -> list[dict[str, Any]]:
    rows = (
        Event.objects.filter(correlation_id=correlation_id)
        .order_by("id")
        .values(*EVENT_FIELDS)[:limit]
    )
    return [event_json(r) for r in rows]


def _deliveries(queryset: Any) -> list[dict[str, Any]]:
    last = Attempt.objects.filter(delivery=OuterRef("pk")).order_by("-number")
    rows = queryset.annotate(
        last_started=Subquery(last.values("started_at")[:1]),
        last_finished=Subquery(last.values("finished_at")[:1]),
        last_worker=Subquery(last.values("worker")[:1]),
    ).values(
        "id",
        "event_id",
        "event__correlation_id",
        "event__trace_id",
        "subscriber",
        "generation",
        "status",
        "attempts",
        "max_attempts",
        "last_error",
        "next_attempt_at",
        "updated_at",
        "last_started",
        "last_finished",
        "last_worker",
    )
    result = []
    for row in rows:
        started, finished = row["last_started"], row["last_finished"]
        result.append(
            {
                "id": row["id"],
                "position": row["event_id"],
                "correlationId": row["event__correlation_id"],
                "traceId": row["event__trace_id"] or None,
                "subscriber": row["subscriber"],
                "generation": row["generation"],  # 0: as recorded; n: the n-th replay
                "status": row["status"],
                "attempts": row["attempts"],
                "maxAttempts": row["max_attempts"],
                "lastError": row["last_error"][:MAX_ERROR_CHARS],
                "nextAttemptAt": _ms(row["next_attempt_at"])
                if row["status"] == Delivery.Status.RETRYING
                else None,
                "startedAt": _ms(started),
                "durationMs": round((finished - started).total_seconds() * 1000, 1)
                if started and finished
                else None,
                "worker": row["last_worker"] or "",
                "updatedAt": _ms(row["updated_at"]),
                "_updated": row["updated_at"],
            }
        )
    return result


def deliveries_of(*, positions: Iterable[int]) -> list[dict[str, Any]]:
    wanted = list(positions)
    if not wanted:
        return []
    return _deliveries(Delivery.objects.filter(event_id__in=wanted).order_by("id"))


def deliveries_changed(*, since: datetime, limit: int) -> list[dict[str, Any]]:
    """Deliveries whose row changed at or after ``since``, oldest change first."""
    return _deliveries(
        Delivery.objects.filter(updated_at__gte=since).order_by("updated_at", "id")[:limit]
    )


def attempt_history(*, delivery_id: int) -> list[dict[str, Any]]:
    return [
        {
            "number": a.number,
            "worker": a.worker,
            "startedAt": _ms(a.started_at),
            "finishedAt": _ms(a.finished_at),
            "durationMs": a.duration_ms,
            "outcome": a.outcome,
            "error": a.error[:MAX_ERROR_CHARS],
        }
        for a in Attempt.objects.filter(delivery_id=delivery_id).order_by("number")
    ]


def dead_letters(*, groups: int = 50, recent: int = 20) -> dict[str, Any]:
    """Dead deliveries: the total, counts per (subscriber, failure fingerprint), the latest few."""
    dead = Delivery.objects.filter(status=Delivery.Status.DEAD)
    latest = dead.select_related("event").order_by("-dead_at", "-id")[:recent]
    return {
        "total": dead.count(),
        "groups": [
            {
                "subscriber": g["subscriber"],
                "fingerprint": g["fingerprint"] or g["error_type"],
                "error": (g["sample_error"] or "")[:MAX_ERROR_CHARS],
                "count": g["count"],
                "firstSeen": _ms(g["first_seen"]),
                "lastSeen": _ms(g["last_seen"]),
            }
            for g in dead_letter_fingerprint_groups(limit=groups)
        ],
        "recent": [
            {
                "id": d.pk,
                "subscriber": d.subscriber,
                "eventType": d.event.event_type,
                "eventId": str(d.event.event_id),
                "correlationId": d.event.correlation_id,
                "attempts": d.attempts,
                "error": d.last_error[:MAX_ERROR_CHARS],
                "deadAt": _ms(d.dead_at),
            }
            for d in latest
        ],
    }


RECENT_BATCHES = timedelta(minutes=10)
"""A finished or cancelled retry batch stays on the dashboard this long."""


def retry_batches(*, limit: int = 5) -> list[dict[str, Any]]:
    """Running retry batches and those finished lately, newest first, with their progress."""
    since = timezone.now() - RECENT_BATCHES
    batches = RetryBatch.objects.filter(
        Q(finished_at__isnull=True) | Q(finished_at__gte=since)
    ).order_by("-pk")[:limit]
    return [
        {
            "id": b.pk,
            "status": b.status,
            "total": b.total,
            "done": b.done,
            "requeued": b.requeued,
            "ratePerSecond": b.rate_per_second,
            "kind": b.kind,
            "createdAt": _ms(b.created_at),
        }
        for b in batches
    ]


def delivery_counts() -> dict[str, int]:
    by_status = dict(
        Delivery.objects.filter(status__in=(*IN_FLIGHT, *FAILURES))
        .values_list("status")
        .annotate(n=Count("id"))
        .values_list("status", "n")
    )
    return {
        "inFlight": sum(by_status.get(s, 0) for s in IN_FLIGHT),
        "failures": sum(by_status.get(s, 0) for s in FAILURES),
        "dead": by_status.get(Delivery.Status.DEAD, 0),
    }


def registry() -> dict[str, Any]:
    """Who should receive each event type, and each subscriber's service lane."""
    return {
        "eventTypes": [spec.event_type for spec in all_specs()],
        "expected": {
            spec.event_type: [s.name for s in subscribers.for_event_type(spec.event_type)]
            for spec in all_specs()
        },
        "subscribers": {s.name: s.service for s in subscribers.all_subscribers()},
        "sources": {spec.source: lane_of_source(spec.source) for spec in all_specs()},
    }


def lane_of_source(source: str) -> str:
    """The service lane of an event source: ``order-service`` joins the ``orders`` lane."""
    services = {s.service for s in subscribers.all_subscribers()}
    name = source.removesuffix("-service")
    for candidate in (name, f"{name}s"):
        if candidate in services:
            return candidate
    return name
