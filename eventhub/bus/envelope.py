"""The wire form of a stored event (R2), as served by ``GET /events`` and the dashboard."""

from __future__ import annotations

from typing import Any

from ..models import Event


def to_envelope(event: Event) -> dict[str, Any]:
    envelope: dict[str, Any] = {
        "eventId": str(event.event_id),
        "eventType": event.event_type,
        "version": event.version,
        "timestamp": event.timestamp,
        "sequence": event.sequence,
        "aggregateId": event.aggregate_id,
        "data": event.data,
        "metadata": {
            "source": event.source,
            "correlationId": event.correlation_id,
            "causationId": str(event.causation_id) if event.causation_id else None,
            "traceId": event.trace_id or None,
        },
    }
    if event.correction:  # an operator's edit & retry: what it corrects, who, why
        envelope["metadata"]["correction"] = event.correction
    return envelope
