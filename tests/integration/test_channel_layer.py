"""The channel layer keeps idle websockets alive: a consumer's receive may block longer than
redis-py's default read timeout (5 s, the same as channels_redis's BZPOPMIN block), which
closed every socket that got no message for ~5 s with 1011."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer

from eventhub.bench.wsclient import WebSocket

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


def test_a_read_may_outlast_a_blocking_receive(redis_server: Any) -> None:
    layer = get_channel_layer()
    pool = layer.create_pool(0)
    assert pool.connection_kwargs["socket_timeout"] > layer.brpop_timeout + 5


def test_an_idle_shop_socket_on_daphne_stays_open(start_web: Any) -> None:
    web = start_web()
    idle = 3 * get_channel_layer().brpop_timeout  # three blocking receives with nothing

    async def run() -> tuple[Any, int | None]:
        socket = await WebSocket.connect(
            "127.0.0.1", web.port, "/ws/shop/", {"Origin": f"http://127.0.0.1:{web.port}"}
        )
        first = await asyncio.wait_for(socket.recv(), 10)
        assert first is not None
        try:
            while (message := await asyncio.wait_for(socket.recv(), idle)) is not None:
                pass  # a snapshot after a change; none is expected, but any is fine
        except TimeoutError:
            await socket.close()
            return "still open", None
        return message, socket.close_code

    assert async_to_sync(run)() == ("still open", None)
