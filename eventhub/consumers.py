"""What the live pages' websocket consumers share: a same-origin check and a coalesced pump.

Channel-layer notices (``eventhub.live``) only wake a connection up; the connection then
reads what changed from the database at most once per ``COALESCE_SECONDS``, and at least
every ``RESYNC_SECONDS`` even if no notice arrives (group sends are at-most-once).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from typing import Any
from urllib.parse import urlparse

from channels.generic.websocket import AsyncJsonWebsocketConsumer
from django.conf import settings

from . import live

log = logging.getLogger(__name__)

COALESCE_SECONDS = float(os.environ.get("EVENTHUB_LIVE_COALESCE_SECONDS", "0.05"))
RESYNC_SECONDS = float(os.environ.get("EVENTHUB_LIVE_RESYNC_SECONDS", "2.0"))
CLOSE_FORBIDDEN = 4403


def same_origin(scope: dict[str, Any]) -> bool:
    """The Origin header names the host the socket was opened on (or a trusted origin).

    The router's AllowedHostsOriginValidator already refused origins outside ALLOWED_HOSTS;
    this also refuses another site on an allowed host (another port, say).
    """
    headers = dict(scope.get("headers", []))
    origin = headers.get(b"origin", b"").decode("latin1")
    host = headers.get(b"host", b"").decode("latin1")
    if not origin:
        return False
    if origin in settings.CSRF_TRUSTED_ORIGINS:
        return True
    return bool(host) and urlparse(origin).netloc == host


class LiveConsumer(AsyncJsonWebsocketConsumer):
    """A websocket that pushes what ``poll()`` finds whenever the database may have changed."""

    coalesce_seconds = COALESCE_SECONDS
    resync_seconds = RESYNC_SECONDS

    def allowed(self) -> bool:
        return same_origin(self.scope)

    async def connect(self) -> None:
        if not self.allowed():
            await self.close(code=CLOSE_FORBIDDEN)  # before accept: the handshake gets a 403
            return
        self.wake = asyncio.Event()
        self.pump: asyncio.Task[None] | None = None
        await self.channel_layer.group_add(live.GROUP, self.channel_name)
        await self.accept()
        await self.opened()

    async def opened(self) -> None:
        """Called once accepted; subclasses send a greeting or start pumping."""

    def start_pump(self) -> None:
        if self.pump is None:
            self.pump = asyncio.get_running_loop().create_task(self._run_pump())
        self.wake.set()

    async def disconnect(self, code: int) -> None:
        if not hasattr(self, "wake"):
            return
        if self.pump is not None:
            self.pump.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.pump
        await self.channel_layer.group_discard(live.GROUP, self.channel_name)

    async def changes_notice(self, message: dict[str, Any]) -> None:
        if self.wants(message):
            self.wake.set()

    def wants(self, notice: dict[str, Any]) -> bool:
        return True

    async def poll(self) -> bool:
        """Read and send what changed; True if there is more to send right away."""
        raise NotImplementedError

    async def _run_pump(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.wake.wait(), timeout=self.resync_seconds)
            self.wake.clear()
            started = time.monotonic()
            try:
                more = await self.poll()
            except Exception:  # a database hiccup must not kill the connection's pump
                log.exception("live page resync failed; trying again")
                more = False
            if not more:
                # At most one resync per window (counted from the start of this one, so a
                # slow read does not stretch it), however many notices arrive meanwhile.
                await asyncio.sleep(self.coalesce_seconds - (time.monotonic() - started))
