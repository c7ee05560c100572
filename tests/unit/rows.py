"""Rows made to order, for tests that need an event in the database without publishing it
(no subscriber gets a delivery, no aggregate sequence is taken)."""

from __future__ import annotations

import uuid
from typing import Any

from eventhub.models import Event


def stored_event(
    event_type: str = "order.created",
    data: dict[str, Any] | None = None,
    *,
    correlation_id: str = "test",
) -> Event:
    return Event.objects.create(
        event_type=event_type,
        version=1,
        source="test",
        aggregate_type="order",
        aggregate_id=str(uuid.uuid4()),
        sequence=1,
        timestamp=0,
        data=data or {},
        correlation_id=correlation_id,
    )
