"""An idle websocket stays open under the defaults that ``./bin/run`` uses (issue 12, item 1).

A consumer waits for channel-layer messages with channels_redis's 5 s blocking read
(BZPOPMIN). With redis-py's default 5 s socket timeout that read timed out whenever nothing
arrived for 5 s: daphne logged ``redis.exceptions.TimeoutError`` and closed the socket. Here
a real daphne (no timeout shortened), a real worker and two sockets that hear nothing for
60 s; then an order over HTTP must still reach both.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from django.conf import settings
from django.contrib.auth import get_user_model
from django.test import Client
from websockets.asyncio.client import ClientConnection
from websockets.exceptions import ConnectionClosed

from eventhub.devtools.websocket_client import connect, received
from tests.conftest import http_json

pytestmark = [
    pytest.mark.integration,
    pytest.mark.one_pass,
    pytest.mark.django_db(transaction=True),
]

IDLE_SECONDS = 60.0
UPDATE_SECONDS = 30.0


def staff_cookie() -> str:
    user = get_user_model().objects.create_user("idle-staff", password="x", is_staff=True)
    client = Client()
    client.force_login(user)
    return client.cookies[settings.SESSION_COOKIE_NAME].value


class Reader:
    """Reads one socket in the background: its JSON messages, and whether it was closed."""

    def __init__(self, name: str, socket: ClientConnection) -> None:
        self.name = name
        self.socket = socket
        self.messages: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.closed = asyncio.Event()
        self.close_reason = ""
        self.task = asyncio.get_running_loop().create_task(self._run())

    async def _run(self) -> None:
        try:
            async for text in received(self.socket):
                await self.messages.put(json.loads(text))
            self.close_reason = "the server sent a close frame"
        except (ConnectionError, ConnectionClosed) as exc:
            self.close_reason = f"the connection broke: {exc!r}"
        self.closed.set()

    async def wait_for(self, match: Any, what: str) -> dict[str, Any]:
        async def first() -> dict[str, Any]:
            while not match(message := await self.messages.get()):
                pass
            return message

        try:
            return await asyncio.wait_for(first(), UPDATE_SECONDS)
        except TimeoutError:
            raise AssertionError(f"{self.name}: no {what} within {UPDATE_SECONDS:.0f} s") from None


def stock_of(message: dict[str, Any], product_id: str) -> int | None:
    products = {p["productId"]: p["stock"] for p in message.get("products", [])}
    return products.get(product_id)


async def hold_idle_then_order(port: int, cookie: str) -> None:
    origin = {"Origin": f"http://127.0.0.1:{port}"}
    shop = await connect("127.0.0.1", port, "/ws/shop/", origin)
    dashboard = await connect(
        "127.0.0.1",
        port,
        "/ws/dashboard/",
        {**origin, "Cookie": f"{settings.SESSION_COOKIE_NAME}={cookie}"},
    )
    readers = [Reader("shop", shop), Reader("dashboard", dashboard)]
    shop_reader, dashboard_reader = readers
    first = await shop_reader.wait_for(lambda m: m["type"] == "shop", "first snapshot")
    assert stock_of(first, "PROD-001") == 100
    await dashboard_reader.wait_for(lambda m: m["type"] == "hello", "hello")
    await dashboard.send(json.dumps({"type": "resume", "cursor": None}))
    await dashboard_reader.wait_for(lambda m: m["type"] == "batch", "first batch")

    # Nothing is published for IDLE_SECONDS: no channel-layer message reaches either socket.
    closes = [asyncio.ensure_future(r.closed.wait()) for r in readers]
    await asyncio.wait(closes, timeout=IDLE_SECONDS, return_when=asyncio.FIRST_COMPLETED)
    for close in closes:
        close.cancel()
    dropped = [f"{r.name}: {r.close_reason}" for r in readers if r.closed.is_set()]
    assert not dropped, f"closed while idle: {dropped}"

    order = await asyncio.to_thread(
        http_json,
        "POST",
        f"http://127.0.0.1:{port}/orders",
        {"userId": "user-idle", "items": [{"productId": "PROD-001", "quantity": 1}]},
    )
    assert order["success"], order
    correlation_id = order["data"]["correlationId"]
    await shop_reader.wait_for(
        lambda m: m["type"] == "shop" and stock_of(m, "PROD-001") == 99, "stock update"
    )
    await dashboard_reader.wait_for(
        lambda m: any(e["correlationId"] == correlation_id for e in m.get("events", [])),
        "event of the new order",
    )
    for reader in readers:
        assert not reader.closed.is_set(), f"{reader.name}: {reader.close_reason}"
        await reader.socket.close()
        reader.task.cancel()


def test_idle_shop_and_dashboard_sockets_stay_open_for_a_minute_and_still_get_updates(
    start_web, start_worker
):
    start_worker()
    web = start_web(LOG_LEVEL="INFO")  # as ./bin/run: no LOG_LEVEL set, so INFO
    cookie = staff_cookie()

    asyncio.run(hold_idle_then_order(web.port, cookie))

    log = web.log_path.read_text(errors="replace")
    assert "WSCONNECT /ws/shop/" in log and "WSCONNECT /ws/dashboard/" in log, log[-3000:]
    for bad in (" ERROR ", "Traceback", "TimeoutError"):
        assert bad not in log, f"{bad!r} in daphne's log:\n{log[-5000:]}"
