"""Bad requests sent to a real daphne, as the issue found them: NUL characters in the query,
path and cookies, a websocket upgrade to a path nobody serves, an order posted as text.
Refused with a 4xx, and no traceback in daphne's log. Runs on SQLite and PostgreSQL (where a
NUL was a 500)."""

from __future__ import annotations

import base64
import http.client
import json
import os
import socket
from collections.abc import Callable
from typing import Any

import pytest
from asgiref.sync import async_to_sync
from channels.testing import WebsocketCommunicator

from eventhub.routing import websocket_application
from orders.models import Order
from tests.integration.flows import SEED_ORDER

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


def http_get(server: Any, path: str, headers: dict[str, str] | None = None) -> tuple[int, str]:
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    try:
        conn.request("GET", path, headers=headers or {})
        response = conn.getresponse()
        return response.status, response.read().decode()
    finally:
        conn.close()


def websocket_handshake(server: Any, path: str, cookie: str = "") -> str:
    """Send a websocket upgrade for ``path`` (same origin); the status line of the answer."""
    host = f"127.0.0.1:{server.port}"
    key = base64.b64encode(os.urandom(16)).decode()
    request = (
        f"GET {path} HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\nOrigin: http://{host}\r\n"
        + (f"Cookie: {cookie}\r\n" if cookie else "")
        + "\r\n"
    )
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.sendall(request.encode("latin1"))
        answer = b""
        while b"\r\n" not in answer:
            chunk = sock.recv(4096)
            if not chunk:
                break
            answer += chunk
    return answer.split(b"\r\n", 1)[0].decode("latin1")


@pytest.fixture
def web(start_web: Callable[..., Any]) -> Any:
    return start_web()


def log_of(server: Any) -> str:
    return server.log_path.read_text(errors="replace")


NUL_REQUESTS = [
    ("/events?eventType=%00", 400, "eventType: must not contain NUL"),
    ("/events?correlationId=%00", 400, "correlationId: must not contain NUL"),
    ("/orders?userId=%00", 400, "userId: must not contain NUL"),
    ("/orders/%00", 404, "Not found"),
    ("/orders/ORD-1%00", 404, "Not found"),
    ("/dashboard/api/flows/%00/spans", 404, "Not found"),
]


def test_nul_characters_are_refused_through_daphne_without_a_traceback(web: Any):
    for path, status, error in NUL_REQUESTS:
        got, body = http_get(web, path)
        assert got == status, (path, body)
        assert json.loads(body)["error"].startswith(error), (path, body)
    got, body = http_get(web, "/admin/orders/order/%00/change/")
    assert (got, body.split(":")[0]) == (404, "Not found")
    got, body = http_get(web, "/admin/orders/order/?q=%00")
    assert (got, body) == (400, "q: must not contain NUL characters")
    got, body = http_get(web, "/admin/", {"Cookie": 'sessionid="abcdefgh\\000ijk"'})
    assert (got, body) == (400, "cookie sessionid: must not contain NUL characters")
    log = log_of(web)
    assert "Traceback" not in log
    assert "DataError" not in log


def test_a_websocket_to_an_unknown_path_is_refused_without_a_traceback(web: Any):
    assert " 101 " in websocket_handshake(web, "/ws/shop/") + " "  # the handshake itself is fine
    for path in ("/ws/nothing/", "/ws/", "/", "/ws/shop/extra/", "/ws/dashboard/x/"):
        assert " 403 " in websocket_handshake(web, path) + " ", path
    log = log_of(web)
    assert "Traceback" not in log
    assert "No route found" not in log


def test_a_websocket_with_a_nul_in_its_session_cookie_is_refused_without_a_traceback(web: Any):
    cookie = 'sessionid="abcdefgh\\000ijk"'
    for path in ("/ws/shop/", "/ws/dashboard/", "/ws/nothing/"):
        assert " 403 " in websocket_handshake(web, path, cookie) + " ", path
    log = log_of(web)
    assert "Traceback" not in log
    assert "DataError" not in log


def test_an_order_posted_as_text_is_a_415_through_daphne(web: Any):
    conn = http.client.HTTPConnection("127.0.0.1", web.port, timeout=10)
    try:
        conn.request("POST", "/orders", json.dumps(SEED_ORDER), {"Content-Type": "text/plain"})
        response = conn.getresponse()
        body = json.loads(response.read())
    finally:
        conn.close()
    assert response.status == 415
    assert body == {"success": False, "error": "Content-Type must be application/json"}
    assert Order.objects.count() == 0


def handshake_in_channels(path: str, cookie: str = "") -> tuple[bool, int | None]:
    """The same refusals one level down, through Channels' testing communicator."""
    headers = [(b"host", b"testserver"), (b"origin", b"http://testserver")]
    if cookie:
        headers.append((b"cookie", cookie.encode("latin1")))

    async def run() -> tuple[bool, int | None]:
        communicator = WebsocketCommunicator(websocket_application(), path, headers=headers)
        connected, code = await communicator.connect(timeout=10)
        await communicator.disconnect()
        return connected, code

    return async_to_sync(run)()


def test_channels_refuses_an_unknown_path_and_a_nul_cookie_before_accepting(redis_server):
    assert handshake_in_channels("/ws/nothing/") == (False, 1000)
    assert handshake_in_channels("/ws/shop/", 'sessionid="abcdefgh\\000ijk"') == (False, 1000)
    assert handshake_in_channels("/ws/shop/")[0] is True
