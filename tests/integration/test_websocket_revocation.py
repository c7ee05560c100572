"""A dashboard socket whose user loses access closes (4401/4403) and streams nothing more;
a logout stops the shop socket streaming that session's orders.

Three mechanisms close a revoked dashboard socket, each tested alone in-process (the others
switched off: the push dropped, as the channel layer may, or the periodic check an hour away):

- *send*: a flow published right after the revocation makes the socket read it, and the
  check after that read closes the socket instead of sending it;
- *push*: the user's save or delete, or the logout, tells the socket at once (a deleted
  session row sends no signal: it has the other two only);
- *periodic*: nothing happens after the revocation, and the periodic check closes it.

Through daphne: a logout with a cookie from the admin's login form (push, across processes),
and the periodic check at its default interval.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import Callable
from typing import Any

import pytest
from asgiref.sync import async_to_sync
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.sessions.models import Session
from django.test import Client
from websockets.asyncio.client import ClientConnection

from eventhub.dashboard import access
from eventhub.dashboard.consumers import DashboardConsumer
from eventhub.devtools.websocket_client import connect, received
from eventhub.routing import websocket_application
from orders.services import ItemInput, order_place
from orders.shop import SESSION_KEY as SHOP_SESSION_KEY

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

PASSWORD = "pw-123456-staff"
SHORT_RECHECK = 0.3
"""The periodic re-check in the tests without the push (the default is tested through daphne)."""
NO_RECHECK = 3600.0
"""The periodic re-check in the tests of the push alone."""
CLOSE_DEADLINE = access.RECHECK_SECONDS + 10.0
"""Generous for a loaded 2-CPU machine; a socket that keeps streaming is open for hours."""


def staff_client() -> tuple[Any, Client]:
    user = get_user_model().objects.create_user(
        username=f"staff-{uuid.uuid4().hex[:6]}", password=PASSWORD, is_staff=True
    )
    client = Client()
    client.force_login(user)
    return user, client


def publish_flow() -> str:
    """Place an order; its ``order.created`` event starts a flow. Returns the correlation id."""
    return order_place(
        user_id="revocation-test", items=[ItemInput("PROD-001", 1, None)]
    ).correlation_id


def flows_in(message: dict[str, Any]) -> set[str]:
    return {e["correlationId"] for e in message.get("events", [])}


# --- the revocations ------------------------------------------------------------------------


def made_non_staff(user: Any, client: Client) -> None:
    user.is_staff = False
    user.save()


def made_inactive(user: Any, client: Client) -> None:
    user.is_active = False
    user.save()


def logged_out(user: Any, client: Client) -> None:
    session_key = client.session.session_key
    response = client.post("/admin/logout/")  # the admin's real logout view
    assert response.status_code == 200
    assert not Session.objects.filter(session_key=session_key).exists()


def deleted(user: Any, client: Client) -> None:
    user.delete()


def session_deleted(user: Any, client: Client) -> None:
    Session.objects.filter(session_key=client.session.session_key).delete()


REVOCATIONS: list[tuple[Callable[[Any, Client], None], int]] = [
    (made_non_staff, 4403),
    (made_inactive, 4403),
    (logged_out, 4401),
    (deleted, 4401),
    (session_deleted, 4401),  # no signal: the periodic check only
]


# --- through Channels' communicator ---------------------------------------------------------


async def receive_until(
    communicator: WebsocketCommunicator,
    done: Callable[[dict[str, Any]], bool],
    timeout: float,
) -> tuple[list[dict[str, Any]], int | None]:
    """Messages until ``done(message)`` or the close; (messages, close code or None)."""
    deadline = time.monotonic() + timeout
    messages: list[dict[str, Any]] = []
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise AssertionError(f"nothing decisive within {timeout}s: {messages[-3:]}")
        try:
            output = await communicator.receive_output(timeout=remaining)
        except TimeoutError:
            continue
        if output["type"] == "websocket.close":
            return messages, output.get("code")
        message = json.loads(output["text"])
        messages.append(message)
        if done(message):
            return messages, None


MECHANISMS = [
    *(pytest.param(r, c, "send", id=f"{r.__name__}-send") for r, c in REVOCATIONS),
    *(pytest.param(r, c, "push", id=f"{r.__name__}-push") for r, c in REVOCATIONS[:4]),
    *(pytest.param(r, c, "periodic", id=f"{r.__name__}-periodic") for r, c in REVOCATIONS),
]


@pytest.mark.parametrize("revoke,code,mechanism", MECHANISMS)
def test_a_revoked_dashboard_socket_closes_and_streams_nothing_more(
    redis_server: Any, monkeypatch: pytest.MonkeyPatch, revoke: Any, code: int, mechanism: str
) -> None:
    if mechanism != "push":
        monkeypatch.setattr(access, "push", lambda group, message: None)
    recheck = SHORT_RECHECK if mechanism == "periodic" else NO_RECHECK
    monkeypatch.setattr(DashboardConsumer, "access_recheck_seconds", recheck)
    # No resync without a notice: its counters batch every 2 s would be checked before sending.
    monkeypatch.setattr(DashboardConsumer, "resync_seconds", NO_RECHECK)
    user, client = staff_client()
    cookie = f"{settings.SESSION_COOKIE_NAME}={client.session.session_key}"

    def revocation() -> str | None:
        revoke(user, client)
        return publish_flow() if mechanism == "send" else None

    async def run() -> None:
        communicator = WebsocketCommunicator(
            websocket_application(),
            "/ws/dashboard/",
            headers=[
                (b"host", b"testserver"),
                (b"origin", b"http://testserver"),
                (b"cookie", cookie.encode()),
            ],
        )
        connected, _ = await communicator.connect(timeout=10)
        assert connected
        assert (await communicator.receive_json_from(timeout=10))["type"] == "hello"
        await communicator.send_json_to({"type": "resume", "cursor": None})
        before = await database_sync_to_async(publish_flow)()
        _, closed = await receive_until(communicator, lambda m: before in flows_in(m), 30)
        assert closed is None, "the stream works before the revocation"

        after = await database_sync_to_async(revocation)()
        messages, closed = await receive_until(communicator, lambda m: False, CLOSE_DEADLINE)
        assert closed == code
        assert after is None or not any(after in flows_in(m) for m in messages)
        await communicator.wait()

    async_to_sync(run)()


# --- through daphne, with a cookie from the admin's login form ------------------------------


def login_cookie(user: Any) -> str:
    client = Client()
    response = client.post(
        "/admin/login/?next=/admin/",
        {"username": user.username, "password": PASSWORD, "next": "/admin/"},
    )
    assert response.status_code == 302, response.content[:500]
    return client.cookies[settings.SESSION_COOKIE_NAME].value


async def daphne_dashboard(port: int, session_key: str, *, resume: bool = True) -> ClientConnection:
    socket = await connect(
        "127.0.0.1",
        port,
        "/ws/dashboard/",
        {
            "Origin": f"http://127.0.0.1:{port}",
            "Cookie": f"{settings.SESSION_COOKIE_NAME}={session_key}",
        },
    )
    assert json.loads(await asyncio.wait_for(socket.recv(), 10))["type"] == "hello"
    if resume:
        await socket.send(json.dumps({"type": "resume", "cursor": None}))
    return socket


async def read_until_closed(
    socket: ClientConnection, done: Callable[[dict[str, Any]], bool], timeout: float
) -> list[dict[str, Any]]:
    """Messages until ``done(message)`` or the server's close (see ``socket.close_code``)."""
    messages: list[dict[str, Any]] = []

    async def read() -> None:
        async for text in received(socket):
            messages.append(json.loads(text))
            if done(messages[-1]):
                return

    await asyncio.wait_for(read(), timeout)
    return messages


def closes_after(
    port: int, session_key: str, revoke: Callable[[], None], *, resume: bool = True
) -> int | None:
    """The close code of an open socket after ``revoke()`` (a deadline, then a failure)."""

    async def run() -> int | None:
        socket = await daphne_dashboard(port, session_key, resume=resume)
        if resume:
            before = await database_sync_to_async(publish_flow)()
            await read_until_closed(socket, lambda m: before in flows_in(m), 30)
            assert socket.close_code is None, "the stream works before the revocation"
        await database_sync_to_async(revoke)()
        await read_until_closed(socket, lambda m: False, CLOSE_DEADLINE)
        await socket.close()
        return socket.close_code

    return async_to_sync(run)()


def test_a_logout_closes_that_sessions_socket_on_daphne_at_once(start_web: Any) -> None:
    """The push alone (no periodic check, no resync): logout view -> Redis -> daphne."""
    web = start_web(
        EVENTHUB_DASHBOARD_ACCESS_RECHECK_SECONDS=str(NO_RECHECK),
        EVENTHUB_LIVE_RESYNC_SECONDS=str(NO_RECHECK),
    )
    user, _ = staff_client()
    session_key = login_cookie(user)
    other_session = login_cookie(user)
    client = Client()
    client.cookies[settings.SESSION_COOKIE_NAME] = session_key

    assert closes_after(web.port, session_key, lambda: logged_out(user, client)) == 4401

    # The user's other session is still logged in: its socket still streams.
    async def other_streams() -> bool:
        socket = await daphne_dashboard(web.port, other_session)
        flow = await database_sync_to_async(publish_flow)()
        await read_until_closed(socket, lambda m: flow in flows_in(m), 30)
        still_open = socket.close_code is None  # before this client closes it
        await socket.close()
        return still_open

    assert async_to_sync(other_streams)()


def test_the_periodic_recheck_at_its_default_closes_a_socket_on_daphne(start_web: Any) -> None:
    """No signal (a QuerySet.update), and a socket not resumed has nothing to send: the
    periodic check alone, at its default, closes it."""
    web = start_web()
    assert "EVENTHUB_DASHBOARD_ACCESS_RECHECK_SECONDS" not in web.env
    user, _ = staff_client()
    session_key = login_cookie(user)

    def demote_quietly() -> None:
        get_user_model().objects.filter(pk=user.pk).update(is_staff=False)

    assert closes_after(web.port, session_key, demote_quietly, resume=False) == 4403


# --- the shop socket ------------------------------------------------------------------------


def test_after_a_logout_the_shop_socket_no_longer_streams_that_sessions_orders(redis_server):
    """The shop's socket is public (stock) plus the orders its session placed, whose ids it
    re-reads from the session store on every resync: a logout flushes the session, so the
    next snapshot carries no orders and the socket streams stock only from then on."""
    user, client = staff_client()
    mine = order_place(user_id="shopper", items=[ItemInput("PROD-001", 1, None)])
    session = client.session
    session[SHOP_SESSION_KEY] = [mine.pk]
    session.save()
    cookie = f"{settings.SESSION_COOKIE_NAME}={session.session_key}"

    async def run() -> None:
        communicator = WebsocketCommunicator(
            websocket_application(),
            "/ws/shop/",
            headers=[
                (b"host", b"testserver"),
                (b"origin", b"http://testserver"),
                (b"cookie", cookie.encode()),
            ],
        )
        connected, _ = await communicator.connect(timeout=10)
        assert connected
        first = await communicator.receive_json_from(timeout=10)
        assert [o["orderId"] for o in first["orders"]] == [mine.pk]
        await database_sync_to_async(logged_out)(user, client)
        await communicator.send_json_to({"type": "watch"})  # as a resync would, within 5 s
        messages, closed = await receive_until(
            communicator, lambda m: m["orders"] == [], CLOSE_DEADLINE
        )
        assert closed is None
        assert messages[-1]["products"], "stock is still streamed"
        await communicator.disconnect(timeout=10)

    async_to_sync(run)()
