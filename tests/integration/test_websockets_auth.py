"""Websockets through Channels' testing tools: who may open the dashboard and shop streams."""

from __future__ import annotations

from typing import Any

import pytest
from asgiref.sync import async_to_sync
from channels.testing import WebsocketCommunicator
from django.contrib.auth import get_user_model
from django.test import Client

from eventhub.routing import websocket_application
from orders.shop import SESSION_KEY

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

SAME_ORIGIN = "http://testserver"


def session_cookie(user: Any = None, **session: Any) -> str:
    client = Client()
    if user is not None:
        client.force_login(user)
    store = client.session
    for key, value in session.items():
        store[key] = value
    store.save()
    return f"sessionid={store.session_key}"


def user(**flags: bool) -> Any:
    name = "u-" + ("-".join(sorted(k for k, v in flags.items() if v)) or "plain")
    return get_user_model().objects.create_user(username=name, password="pw-123456", **flags)


def connect(path: str, *, origin: str | None = SAME_ORIGIN, cookie: str = "") -> Any:
    headers = [(b"host", b"testserver")]
    if origin is not None:
        headers.append((b"origin", origin.encode()))
    if cookie:
        headers.append((b"cookie", cookie.encode()))

    async def run() -> tuple[bool, Any, WebsocketCommunicator]:
        communicator = WebsocketCommunicator(websocket_application(), path, headers=headers)
        connected, _ = await communicator.connect(timeout=10)
        first = await communicator.receive_json_from(timeout=10) if connected else None
        await communicator.disconnect()
        return connected, first

    return async_to_sync(run)()


def test_an_anonymous_dashboard_connection_is_refused(redis_server):
    assert connect("/ws/dashboard/") == (False, None)


def test_a_logged_in_user_who_is_not_staff_is_refused(redis_server):
    assert connect("/ws/dashboard/", cookie=session_cookie(user())) == (False, None)


def test_staff_from_a_foreign_origin_is_refused(redis_server):
    cookie = session_cookie(user(is_staff=True))
    assert connect("/ws/dashboard/", origin="https://evil.example", cookie=cookie)[0] is False
    # An allowed host on another port is another origin too.
    assert connect("/ws/dashboard/", origin="http://testserver:9999", cookie=cookie)[0] is False
    assert connect("/ws/dashboard/", origin=None, cookie=cookie)[0] is False


def test_staff_from_the_same_origin_get_the_stream(redis_server):
    connected, hello = connect("/ws/dashboard/", cookie=session_cookie(user(is_staff=True)))
    assert connected
    assert hello["type"] == "hello"
    assert "notifications.order_confirmation" in hello["registry"]["expected"]["order.created"]


def test_the_shop_stream_is_public_but_origin_checked(redis_server):
    from inventory.services import catalog_seed

    catalog_seed()
    assert connect("/ws/shop/", origin="https://evil.example")[0] is False
    connected, snapshot = connect("/ws/shop/")
    assert connected
    assert snapshot["type"] == "shop"
    assert {p["productId"] for p in snapshot["products"]} >= {"PROD-001", "PROD-002", "PROD-003"}
    assert snapshot["orders"] == []


def test_the_shop_stream_carries_only_the_sessions_own_orders(redis_server):
    from inventory.services import catalog_seed
    from orders.services import ItemInput, order_place

    catalog_seed()
    mine = order_place(user_id="me", items=[ItemInput("PROD-001", 1, None)])
    order_place(user_id="someone-else", items=[ItemInput("PROD-001", 1, None)])
    connected, snapshot = connect("/ws/shop/", cookie=session_cookie(**{SESSION_KEY: [mine.pk]}))
    assert connected
    assert [o["orderId"] for o in snapshot["orders"]] == [mine.pk]


@pytest.mark.parametrize("seen", [2**63 - 1, 253_402_300_800_000, -1, "1700000000000", 1.5])
def test_a_resume_with_an_out_of_range_time_gets_the_snapshot_not_a_crash(redis_server, seen):
    cookie = session_cookie(user(is_staff=True))

    async def run() -> Any:
        communicator = WebsocketCommunicator(
            websocket_application(),
            "/ws/dashboard/",
            headers=[
                (b"host", b"testserver"),
                (b"origin", SAME_ORIGIN.encode()),
                (b"cookie", cookie.encode()),
            ],
        )
        connected, _ = await communicator.connect(timeout=10)
        assert connected
        hello = await communicator.receive_json_from(timeout=10)
        await communicator.send_json_to({"type": "resume", "cursor": 0, "deliveriesSeen": seen})
        answer = await communicator.receive_json_from(timeout=10)
        await communicator.disconnect()
        return hello, answer

    _, answer = async_to_sync(run)()
    assert answer["type"] == "batch", answer
