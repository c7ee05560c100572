"""Reads of the event store."""

from __future__ import annotations

from django.db.models import QuerySet

from .models import Event


def event_list(
    *,
    event_type: str | None = None,
    since: int | None = None,
    correlation_id: str | None = None,
    after: int | None = None,
) -> QuerySet[Event]:
    """Events in recorded order; ``since`` is epoch ms, ``after`` a position cursor."""
    events = Event.objects.order_by("id")
    if event_type:
        events = events.filter(event_type=event_type)
    if since is not None:
        events = events.filter(timestamp__gte=since)
    if correlation_id:
        events = events.filter(correlation_id=correlation_id)
    if after is not None:
        events = events.filter(id__gt=after)
    return events
