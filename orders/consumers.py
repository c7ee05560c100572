"""The shop page's websocket: live stock and the status of this session's own orders.

Public (no login), origin-checked; it sends a snapshot whenever it differs from the last one
sent. The order ids come from the session, re-read on every resync, so an order placed after
the socket opened shows up as soon as the page says ``{"type": "watch"}``.
"""

from __future__ import annotations

from typing import Any

from channels.db import database_sync_to_async
from django.conf import settings
from django.utils.module_loading import import_string

from eventhub.consumers import LiveConsumer

from .shop import session_order_ids, shop_snapshot


def _order_ids(session_key: str | None) -> list[str]:
    if not session_key:
        return []
    store = import_string(f"{settings.SESSION_ENGINE}.SessionStore")(session_key=session_key)
    return session_order_ids(store)


def _snapshot(session_key: str | None) -> dict[str, Any]:
    return shop_snapshot(order_ids=_order_ids(session_key))


class ShopConsumer(LiveConsumer):
    resync_seconds = 5.0

    async def opened(self) -> None:
        session = self.scope.get("session")
        self.session_key = session.session_key if session is not None else None
        self.sent: dict[str, Any] | None = None
        self.start_pump()

    async def receive_json(self, content: Any, **kwargs: Any) -> None:
        if isinstance(content, dict) and content.get("type") == "watch":
            self.wake.set()

    def wants(self, notice: dict[str, Any]) -> bool:
        return notice.get("kind") == "event"

    async def poll(self) -> bool:
        snapshot = await database_sync_to_async(_snapshot)(self.session_key)
        if snapshot != self.sent:
            self.sent = snapshot
            await self.send_json({"type": "shop", **snapshot})
        return False
