"""The dashboard's websocket: staff only, streams the timeline from the database by cursor.

Messages from the page::

    {"type": "resume", "cursor": 1234 | null, "deliveriesSeen": <epoch ms> | null}
    {"type": "flow", "correlationId": "..."}        every event and delivery of one flow
    {"type": "attempts", "deliveryId": 42}          the attempt history of one delivery

Messages to the page: ``hello`` (the subscriber registry), ``batch`` (events after the
cursor, delivery upserts, counters, dead letters), ``flow`` and ``attempts`` answers.

Access is checked again after every read and before its send, and every
``access_recheck_seconds`` (see ``access``): a socket whose user lost access closes with
4401 or 4403 and sends nothing more.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from channels.db import database_sync_to_async

from ..consumers import LiveConsumer
from ..middleware import VALID as CORRELATION_ID
from . import access, shared_reads, timeline
from .stream import TimelineStream

log = logging.getLogger(__name__)

FLOW_EVENTS_LIMIT = 1000


def _int(value: Any) -> int | None:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < 2**63:
        return None
    return value


# The latest instant a datetime can hold (9999-12-31T23:59:59.999Z), in epoch ms.
MAX_EPOCH_MS = 253_402_300_799_999


def _instant(value: Any) -> datetime | None:
    """An epoch-ms field from the page as a datetime; None when absent or out of range (a
    page sending 2**63 - 1 made ``fromtimestamp`` raise "year out of range" and crashed the
    socket)."""
    ms = _int(value)
    if not ms or ms > MAX_EPOCH_MS:
        return None
    return datetime.fromtimestamp(ms / 1000, tz=UTC)


class DashboardConsumer(LiveConsumer):
    access_recheck_seconds = access.RECHECK_SECONDS

    def allowed(self) -> bool:
        user = self.scope.get("user")
        staff = bool(user is not None and user.is_authenticated and user.is_staff)
        return staff and super().allowed()

    async def opened(self) -> None:
        self.stream = TimelineStream()
        self.resumed = False
        self.revoked = False
        session = self.scope.get("session")
        self.session_key: str | None = session.session_key if session is not None else None
        self.user_id = self.scope["user"].pk
        self.access_groups = [access.user_group(self.user_id)]
        if self.session_key:
            self.access_groups.append(access.session_group(self.session_key))
        for group in self.access_groups:
            await self.channel_layer.group_add(group, self.channel_name)
        self.recheck = asyncio.Event()
        self.watch = asyncio.get_running_loop().create_task(self._watch_access())
        await self.send_checked(lambda: {"type": "hello", "registry": timeline.registry()})

    # --- access -----------------------------------------------------------------------------

    def _denial(self) -> int | None:
        return access.denial(session_key=self.session_key, user_id=self.user_id)

    def _read_checked(
        self, read: Callable[[], dict[str, Any] | None]
    ) -> tuple[dict[str, Any] | None, int | None]:
        message = read()
        return (message, self._denial()) if message is not None else (None, None)

    async def send_checked(
        self, read: Callable[[], dict[str, Any] | None]
    ) -> dict[str, Any] | None:
        """Read, then check access, then send: whatever the read saw was committed before the
        check, so nothing written after a revocation reaches a revoked socket."""
        if self.revoked:
            return None
        message, code = await database_sync_to_async(self._read_checked)(read)
        if code is not None:
            await self.revoke(code)
        if message is None or self.revoked:
            return None
        await self.send_json(message)
        return message

    async def revoke(self, code: int) -> None:
        if not self.revoked:
            self.revoked = True
            await self.close(code=code)

    async def _watch_access(self) -> None:
        while not self.revoked:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.recheck.wait(), timeout=self.access_recheck_seconds)
            self.recheck.clear()
            try:
                code = await database_sync_to_async(self._denial)()
            except Exception:  # a database hiccup: the next check decides
                log.exception("dashboard access check failed; trying again")
                continue
            if code is not None:
                await self.revoke(code)

    async def access_recheck(self, message: dict[str, Any]) -> None:
        self.recheck.set()

    async def access_revoked(self, message: dict[str, Any]) -> None:
        await self.revoke(int(message.get("code", access.CLOSE_UNAUTHENTICATED)))

    async def disconnect(self, code: int) -> None:
        if hasattr(self, "watch"):
            self.revoked = True  # nothing more to send on a closed socket
            self.watch.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.watch
            for group in self.access_groups:
                await self.channel_layer.group_discard(group, self.channel_name)
        await super().disconnect(code)

    # --- the page's requests ----------------------------------------------------------------

    async def receive_json(self, content: Any, **kwargs: Any) -> None:
        if not isinstance(content, dict):
            return
        kind = content.get("type")
        if kind == "resume" and not self.resumed:
            self.resumed = True
            seen = _instant(content.get("deliveriesSeen"))
            cursor = _int(content.get("cursor"))
            await self.send_checked(lambda: self.stream.resume(cursor, seen))
            self.start_pump()
        elif kind == "flow":
            correlation_id = content.get("correlationId")
            if isinstance(correlation_id, str) and CORRELATION_ID.fullmatch(correlation_id):
                await self.send_checked(lambda: self._flow(correlation_id))
        elif kind == "attempts":
            delivery_id = _int(content.get("deliveryId"))
            if delivery_id is not None:
                await self.send_checked(lambda: self._attempts(delivery_id))

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

    def _attempts(self, delivery_id: int) -> dict[str, Any]:
        attempts = timeline.attempt_history(delivery_id=delivery_id)
        return {"type": "attempts", "deliveryId": delivery_id, "attempts": attempts}

    async def poll(self) -> bool:
        batch = await self.send_checked(self.stream.poll)
        return bool(batch and batch["more"])
