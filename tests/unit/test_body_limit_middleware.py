"""BodyLimitMiddleware at the ASGI level, as any ASGI server (not only daphne) drives it."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from asgiref.sync import async_to_sync
from django.conf import settings

from eventhub import body_limit
from eventhub.body_limit import BodyLimitMiddleware

LIMIT = settings.DATA_UPLOAD_MAX_MEMORY_SIZE


class Client:
    """Feeds ``chunks`` as http.request messages and records what the app gets and sends."""

    def __init__(self, chunks: list[bytes], *, stall: bool = False) -> None:
        self.chunks = chunks
        self.stall = stall
        self.reads = 0
        self.sent: list[dict[str, Any]] = []
        self.app_got: list[dict[str, Any]] | None = None

    async def receive(self) -> dict[str, Any]:
        if self.reads >= len(self.chunks):
            if self.stall:
                await asyncio.Event().wait()  # a body that never completes
            return {"type": "http.disconnect"}
        self.reads += 1
        more = self.reads < len(self.chunks) or self.stall
        return {"type": "http.request", "body": self.chunks[self.reads - 1], "more_body": more}

    async def send(self, message: dict[str, Any]) -> None:
        self.sent.append(message)

    async def app(self, scope: Any, receive: Any, send: Any) -> None:
        self.app_got = [await receive()]
        await send({"type": "http.response.start", "status": 201, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})

    def run(self, *headers: tuple[bytes, bytes]) -> tuple[int, dict[str, Any] | bytes]:
        scope = {"type": "http", "method": "POST", "path": "/orders", "headers": list(headers)}
        async_to_sync(BodyLimitMiddleware(self.app))(scope, self.receive, self.send)
        status = self.sent[0]["status"]
        body = self.sent[1]["body"]
        return status, (json.loads(body) if status != 201 else body)


def test_a_declared_length_over_the_limit_is_refused_before_any_read() -> None:
    client = Client([b"x"])
    status, body = client.run((b"content-length", str(1024**3).encode()))
    assert (status, body) == (
        413,
        {"success": False, "error": f"body: larger than the limit of {LIMIT} bytes"},
    )
    assert client.reads == 0
    assert client.app_got is None


def test_a_body_without_length_is_refused_once_past_the_limit_and_no_more_is_read() -> None:
    client = Client([b"x" * 1024] * 1000)  # ~1 MiB in 1 KiB chunks
    status, _ = client.run()
    assert status == 413
    assert client.reads == LIMIT // 1024 + 1
    assert client.app_got is None


def test_a_body_of_exactly_the_limit_reaches_the_app_in_one_message() -> None:
    client = Client([b"x" * (LIMIT // 2), b"y" * (LIMIT // 2)])
    assert client.run((b"content-length", str(LIMIT).encode())) == (201, b"ok")
    assert client.app_got == [
        {
            "type": "http.request",
            "body": b"x" * (LIMIT // 2) + b"y" * (LIMIT // 2),
            "more_body": False,
        }
    ]


def test_a_body_that_does_not_complete_in_time_is_408(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(body_limit, "BODY_TIMEOUT_SECONDS", 0.2)
    client = Client([b"{"], stall=True)
    status, body = client.run((b"content-length", b"100"))
    assert (status, body) == (
        408,
        {"success": False, "error": "body: not received within 0.2 seconds"},
    )
    assert client.app_got is None


def test_websockets_pass_through() -> None:
    seen: list[str] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        seen.append(scope["type"])

    async_to_sync(BodyLimitMiddleware(app))({"type": "websocket", "path": "/ws/x/"}, None, None)
    assert seen == ["websocket"]
