"""Live change notices for the websocket pages, sent after commit over the channel layer.

A notice says only *what* changed (an event recorded, a delivery's new status) and where
(its flow); pages read the data itself from the database, by cursor. Group sends are
at-most-once, so a lost notice costs latency, never data: pages resync on reconnect and
periodically.
"""

from __future__ import annotations

import logging
from typing import Any

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db import transaction

log = logging.getLogger(__name__)

GROUP = "eventhub.changes"
MESSAGE_TYPE = "changes.notice"


def _send(notice: dict[str, Any]) -> None:
    layer = get_channel_layer()
    if layer is None:
        return
    try:
        async_to_sync(layer.group_send)(GROUP, {"type": MESSAGE_TYPE, **notice})
    except Exception as exc:  # the dashboard is best effort; the database has the truth
        log.debug("live notice dropped: %s", exc)


def announce(**notice: Any) -> None:
    """Send ``notice`` to every connected page once the current transaction commits."""
    transaction.on_commit(lambda: _send(notice), robust=True)


def event_recorded(
    *, position: int, event_type: str, correlation_id: str, aggregate_id: str
) -> None:
    announce(
        kind="event",
        position=position,
        eventType=event_type,
        correlationId=correlation_id,
        aggregateId=aggregate_id,
    )


def delivery_changed(*, delivery_id: int, status: str, correlation_id: str) -> None:
    announce(kind="delivery", id=delivery_id, status=status, correlationId=correlation_id)
