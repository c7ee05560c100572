"""A dashboard socket whose user loses access closes (4401/4403) and streams nothing more.

Each revocation is tried twice: with the push (signals -> channel layer -> the socket
re-checks at once) and without it (the push dropped, as the channel layer may), where the
periodic re-check alone must close the socket. Either way, a flow published right after the
revocation never reaches the socket: every send is checked after its read.
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

from eventhub.bench.wsclient import WebSocket
from eventhub.dashboard import access
from eventhub.dashboard.consumers import DashboardConsumer
from eventhub.routing import websocket_application
from orders.services import ItemInput, order_place

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

PASSWORD = "pw-123456-staff"
SHORT_RECHECK = 0.3
"""The periodic re-check in the tests without the push (the default is tested through daphne)."""
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
    (session_deleted, 4401),
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


@pytest.mark.parametrize("push", [True, False], ids=["pushed", "periodic-only"])
@pytest.mark.parametrize("revoke,code", REVOCATIONS, ids=[r.__name__ for r, _ in REVOCATIONS])
def test_a_revoked_dashboard_socket_closes_and_streams_nothing_more(
    redis_server: Any, monkeypatch: pytest.MonkeyPatch, revoke: Any, code: int, push: bool
) -> None:
    if not push:
        monkeypatch.setattr(access, "push", lambda group, message: None)
        monkeypatch.setattr(DashboardConsumer, "access_recheck_seconds", SHORT_RECHECK)
    user, client = staff_client()
    cookie = f"{settings.SESSION_COOKIE_NAME}={client.session.session_key}"

    def revoke_then_publish() -> str:
        revoke(user, client)
        return publish_flow()

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

        after = await database_sync_to_async(revoke_then_publish)()
        messages, closed = await receive_until(communicator, lambda m: False, CLOSE_DEADLINE)
        assert closed == code
        assert not any(after in flows_in(m) for m in messages)
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


async def daphne_dashboard(port: int, session_key: str) -> WebSocket:
    socket = await WebSocket.connect(
        "127.0.0.1",
        port,
        "/ws/dashboard/",
        {
            "Origin": f"http://127.0.0.1:{port}",
            "Cookie": f"{settings.SESSION_COOKIE_NAME}={session_key}",
        },
    )
    assert json.loads(await asyncio.wait_for(socket.recv(), 10) or "{}")["type"] == "hello"
    await socket.send_text(json.dumps({"type": "resume", "cursor": None}))
    return socket


async def read_until_closed(
    socket: WebSocket, done: Callable[[dict[str, Any]], bool], timeout: float
) -> list[dict[str, Any]]:
    """Messages until ``done(message)`` or the server's close (see ``socket.close_code``)."""
    messages: list[dict[str, Any]] = []

    async def read() -> None:
        while (text := await socket.recv()) is not None:
            messages.append(json.loads(text))
            if done(messages[-1]):
                return

    await asyncio.wait_for(read(), timeout)
    return messages


def streams_then_closes(
    port: int, session_key: str, revoke_then_publish: Callable[[], str], deadline: float
) -> tuple[int | None, bool]:
    """(close code, whether the flow published after the revocation arrived)."""

    async def run() -> tuple[int | None, bool]:
        socket = await daphne_dashboard(port, session_key)
        before = await database_sync_to_async(publish_flow)()
        await read_until_closed(socket, lambda m: before in flows_in(m), 30)
        assert socket.close_code is None, "the stream works before the revocation"
        after = await database_sync_to_async(revoke_then_publish)()
        messages = await read_until_closed(socket, lambda m: False, deadline)
        await socket.close()
        return socket.close_code, any(after in flows_in(m) for m in messages)

    return async_to_sync(run)()


def test_a_logout_closes_that_sessions_socket_on_daphne(start_web: Any) -> None:
    web = start_web()
    user, _ = staff_client()
    session_key = login_cookie(user)
    other_session = login_cookie(user)
    client = Client()
    client.cookies[settings.SESSION_COOKIE_NAME] = session_key

    def log_out_then_publish() -> str:
        logged_out(user, client)
        return publish_flow()

    assert streams_then_closes(web.port, session_key, log_out_then_publish, CLOSE_DEADLINE) == (
        4401,
        False,
    )

    # The user's other session is still logged in: its socket still streams.
    async def other_streams() -> bool:
        socket = await daphne_dashboard(web.port, other_session)
        flow = await database_sync_to_async(publish_flow)()
        await read_until_closed(socket, lambda m: flow in flows_in(m), 30)
        await socket.close()
        return socket.close_code is None

    assert async_to_sync(other_streams)()


def test_the_periodic_recheck_at_its_default_closes_a_socket_on_daphne(start_web: Any) -> None:
    """No signal at all (a QuerySet.update): only the periodic re-check, at its default."""
    web = start_web()
    assert "EVENTHUB_DASHBOARD_ACCESS_RECHECK_SECONDS" not in web.env
    user, _ = staff_client()
    session_key = login_cookie(user)

    def demote_quietly_then_publish() -> str:
        get_user_model().objects.filter(pk=user.pk).update(is_staff=False)
        return publish_flow()

    assert streams_then_closes(
        web.port, session_key, demote_quietly_then_publish, CLOSE_DEADLINE
    ) == (4403, False)
