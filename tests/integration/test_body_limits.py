"""Request bodies through real daphne: refused by size or time before anything buffers them.

Raw sockets, because the point is what the server does while a body is still arriving (an
HTTP library would send the whole body first, or give up on the reset).
"""

from __future__ import annotations

import json
import select
import socket
import time
from collections.abc import Iterator
from typing import Any

import psutil
import pytest
import requests
from django.conf import settings
from django.contrib.auth import get_user_model

from eventhub import body_limit
from orders.models import Order
from tests.conftest import http_json

pytestmark = [
    pytest.mark.integration,
    pytest.mark.one_pass,
    pytest.mark.django_db(transaction=True),
]

LIMIT = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
MiB = 1024 * 1024
ORDER = {"userId": "body-limits", "items": [{"productId": "PROD-003", "quantity": 1}]}


def connect(port: int) -> socket.socket:
    return socket.create_connection(("127.0.0.1", port), timeout=10)


def head(port: int, *fields: str, path: str = "/orders") -> bytes:
    lines = [f"POST {path} HTTP/1.1", f"Host: 127.0.0.1:{port}", "Content-Type: application/json"]
    return ("\r\n".join([*lines, *fields]) + "\r\n\r\n").encode()


def read_response(sock: socket.socket, timeout: float) -> tuple[int, dict[str, Any], bool]:
    """(status, JSON body, whether the server closed the connection after it) within timeout."""
    deadline = time.monotonic() + timeout
    data = b""

    def more() -> bytes:
        sock.settimeout(max(0.01, deadline - time.monotonic()))
        return sock.recv(65536)

    while b"\r\n\r\n" not in data:
        chunk = more()
        assert chunk, f"closed before a response: {data!r}"
        data += chunk
    header, _, body = data.partition(b"\r\n\r\n")
    status = int(header.split(b" ", 2)[1])
    length = next(
        int(line.split(b":", 1)[1])
        for line in header.split(b"\r\n")
        if line.lower().startswith(b"content-length:")
    )
    while len(body) < length:
        chunk = more()
        assert chunk, "closed in the middle of the response"
        body += chunk
    try:
        closed = body[length:] == b"" and more() == b""  # nothing after the answer, then EOF
    except TimeoutError:
        closed = False
    return status, json.loads(body[:length]), closed


def rss(pid: int) -> int:
    return psutil.Process(pid).memory_info().rss


def chunked(total: int, size: int = 64 * 1024) -> Iterator[bytes]:
    """A chunked body of ``total`` bytes, made as it is sent (never held whole)."""
    piece = b"x" * size
    framed = b"%x\r\n%s\r\n" % (size, piece)
    for _ in range(total // size):
        yield framed
    yield b"0\r\n\r\n"


def test_a_declared_1_gib_body_is_refused_at_once_and_the_connection_closed(start_web):
    web = start_web()
    for expect in ([], ["Expect: 100-continue"]):  # the answer is the 413, not a 100 Continue
        with connect(web.port) as sock:
            sock.sendall(head(web.port, f"Content-Length: {1024**3}", *expect) + b"{")
            status, body, closed = read_response(sock, timeout=10)
        assert status == 413
        assert body == {
            "success": False,
            "error": f"body: larger than the limit of {LIMIT} bytes",
        }
        assert closed


def test_a_chunked_300_mib_body_gets_413_while_daphne_grows_less_than_5_mib(start_web):
    web = start_web()
    assert web.process is not None
    # Warm up what a refusal and an order touch, so that the baseline is not lazily loaded.
    assert http_json("POST", f"{web.url}/orders", ORDER)["success"] is True
    for _ in range(2):
        with connect(web.port) as sock:
            sock.sendall(head(web.port, "Transfer-Encoding: chunked"))
            for piece in chunked(2 * LIMIT):
                sock.sendall(piece)
            assert read_response(sock, timeout=10)[0] == 413
    before = rss(web.process.pid)
    peak = before
    sent = 0
    with connect(web.port) as sock:
        sock.sendall(head(web.port, "Transfer-Encoding: chunked"))
        for n, piece in enumerate(chunked(300 * MiB)):
            readable, writable, _ = select.select([sock], [sock], [], 10)
            if readable:
                break  # the answer came: stop sending, as a client should
            assert writable, "the server neither reads nor answers"
            try:
                sock.sendall(piece)
            except (BrokenPipeError, ConnectionResetError):
                break
            sent += len(piece)
            if n % 16 == 0:
                peak = max(peak, rss(web.process.pid))
        status, body, _ = read_response(sock, timeout=10)
    peak = max(peak, rss(web.process.pid))
    assert status == 413
    assert body["error"] == f"body: larger than the limit of {LIMIT} bytes"
    assert peak - before < 5 * MiB, f"daphne grew {(peak - before) / MiB:.1f} MiB"
    assert sent < 300 * MiB


def test_a_body_that_trickles_in_gets_408(start_web):
    web = start_web(EVENTHUB_BODY_TIMEOUT_SECONDS="1")
    orders = Order.objects.count()
    with connect(web.port) as sock:
        sock.sendall(head(web.port, "Content-Length: 100"))
        # A byte whenever 0.2 s pass without an answer: alive, but far below any sane rate.
        deadline = time.monotonic() + 15
        while not select.select([sock], [], [], 0.2)[0]:
            assert time.monotonic() < deadline, "no answer to a trickling body"
            sock.sendall(b" ")
        status, body, closed = read_response(sock, timeout=10)
    assert status == 408
    assert body == {"success": False, "error": "body: not received within 1 seconds"}
    assert closed
    assert Order.objects.count() == orders


def test_a_stalled_body_gets_408_at_the_default_timeout(start_web):
    web = start_web()
    assert "EVENTHUB_BODY_TIMEOUT_SECONDS" not in web.env
    default = body_limit.BODY_TIMEOUT_SECONDS
    with connect(web.port) as sock:
        sock.sendall(head(web.port, "Content-Length: 100") + b'{"userId": ')
        status, body, _ = read_response(sock, timeout=default + 15)
    assert status == 408
    assert body["error"] == f"body: not received within {default:g} seconds"


def test_orders_and_admin_forms_still_work_through_daphne(start_web):
    web = start_web()
    created = http_json("POST", f"{web.url}/orders", ORDER)
    assert created["success"] is True, created

    # A body of exactly the limit is read (and judged by the API), one byte more is not.
    skeleton = json.dumps({**ORDER, "note": ""})
    exact = json.dumps({**ORDER, "note": "x" * (LIMIT - len(skeleton))}).encode()
    assert len(exact) == LIMIT
    for raw, status in [(exact, 201), (exact + b" ", 413)]:
        response = requests.post(
            f"{web.url}/orders", data=raw, headers={"Content-Type": "application/json"}, timeout=10
        )
        assert response.status_code == status, response.text

    # A chunked order under the limit still reaches the API.
    def order_in_pieces() -> Iterator[bytes]:
        raw = json.dumps(ORDER).encode()
        yield raw[:10]
        yield raw[10:]

    response = requests.post(
        f"{web.url}/orders",
        data=order_in_pieces(),
        headers={"Content-Type": "application/json"},
        timeout=10,
    )
    assert response.status_code == 201, response.text

    get_user_model().objects.create_superuser("boss", "boss@example.com", "pw-123456-boss")
    browser = requests.Session()
    browser.get(f"{web.url}/admin/login/", timeout=10)
    response = browser.post(
        f"{web.url}/admin/login/?next=/admin/",
        data={
            "username": "boss",
            "password": "pw-123456-boss",
            "next": "/admin/",
            "csrfmiddlewaretoken": browser.cookies["csrftoken"],
        },
        headers={"Referer": f"{web.url}/admin/login/"},
        timeout=10,
    )
    assert response.status_code == 200 and "/admin/logout/" in response.text
