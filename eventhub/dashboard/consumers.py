"""The dashboard's websocket: staff only, streams the timeline from the database by cursor.

Messages from the page::

    {"type": "resume", "cursor": 1234 | null, "deliveriesSeen": <epoch ms> | null}
    {"type": "flow", "correlationId": "..."}        every event and delivery of one flow
    {"type": "attempts", "deliveryId": 42}          the attempt history of one delivery

Messages to the page: ``hello`` (the subscriber registry), ``batch`` (events after the
cursor, delivery upserts, counters, dead letters), ``flow`` and ``attempts`` answers.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

from channels.db import database_sync_to_async

from ..consumers import LiveConsumer
from . import shared_reads, timeline
from .stream import TimelineStream

CORRELATION_ID = re.compile(r"^[A-Za-z0-9._:\-]{1,128}$")
FLOW_EVENTS_LIMIT = 1000


def _int(value: Any) -> int | None:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < 2**63:
        return None
    return value


class DashboardConsumer(LiveConsumer):
    def allowed(self) -> bool:
        user = self.scope.get("user")
        staff = bool(user is not None and user.is_authenticated and user.is_staff)
        return staff and super().allowed()

    async def opened(self) -> None:
        self.stream = TimelineStream()
        self.resumed = False
        await self.send_json(
            {"type": "hello", "registry": await database_sync_to_async(timeline.registry)()}
        )

    async def receive_json(self, content: Any, **kwargs: Any) -> None:
        if not isinstance(content, dict):
            return
        kind = content.get("type")
        if kind == "resume" and not self.resumed:
            self.resumed = True
            seen_ms = _int(content.get("deliveriesSeen"))
            seen = datetime.fromtimestamp(seen_ms / 1000, tz=UTC) if seen_ms else None
            batch = await database_sync_to_async(self.stream.resume)(
                _int(content.get("cursor")), seen
            )
            await self.send_json(batch)
            self.start_pump()
        elif kind == "flow":
            correlation_id = content.get("correlationId")
            if isinstance(correlation_id, str) and CORRELATION_ID.match(correlation_id):
                await self.send_json(await database_sync_to_async(self._flow)(correlation_id))
        elif kind == "attempts":
            delivery_id = _int(content.get("deliveryId"))
            if delivery_id is not None:
                attempts = await database_sync_to_async(timeline.attempt_history)(
                    delivery_id=delivery_id
                )
                await self.send_json(
                    {"type": "attempts", "deliveryId": delivery_id, "attempts": attempts}
                )

    async def changes_notice(self, message: dict[str, Any]) -> None:
        shared_reads.noticed()  # before any read this notice causes
        await super().changes_notice(message)

    def _flow(self, correlation_id: str) -> dict[str, Any]:
        events = timeline.flow_events(correlation_id=correlation_id, limit=FLOW_EVENTS_LIMIT)
        deliveries = timeline.deliveries_of(positions=[e["position"] for e in events])
        for d in deliveries:
            d.pop("_updated")
        return {
            "type": "flow",
            "correlationId": correlation_id,
            "events": events,
            "deliveries": deliveries,
        }

    async def poll(self) -> bool:
        batch = await database_sync_to_async(self.stream.poll)()
        if batch is None:
            return False
        await self.send_json(batch)
        return bool(batch["more"])
