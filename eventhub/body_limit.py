"""Request bodies are bounded before anything buffers them: 413 past the limit, 408 when slow.

The limit is ``DATA_UPLOAD_MAX_MEMORY_SIZE`` (64 KiB, R7) on every path. Every view reads its
body whole (``request.body``, ``request.POST``) and none takes a file upload (the admin has
no file fields, so its forms are url-encoded and Django already refuses a larger one), so
a body over it could only ever be refused, after being buffered whole. A body must also
arrive within ``BODY_TIMEOUT_SECONDS`` of its headers: at the limit that is a floor of about
3 KB/s, and a body that stalls or trickles (a connection held open with a byte at a time)
gets 408.

Two layers apply it, with the same answers (``refusal``):

- ``BodyLimitMiddleware``, around the HTTP app: any ASGI server. It refuses a declared
  ``Content-Length`` over the limit before reading, counts the body as it is received, and
  times it out; the app then gets the body in one message.
- ``eventhub.daphne_body_limit``: daphne (Twisted) reads a whole body, to memory or a temp
  file, before it calls the app, and then queues all of it at once (256 MiB chunked cost
  259 MiB of daphne's memory). So under daphne the same rules are applied as the bytes come
  off the socket.
"""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

from django.conf import settings

BODY_TIMEOUT_SECONDS = float(os.environ.get("EVENTHUB_BODY_TIMEOUT_SECONDS", "20"))

Scope = dict[str, Any]
Message = dict[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]


def body_limit(path: str) -> int:
    """The most bytes a request body to ``path`` may have (the same everywhere, see above)."""
    return settings.DATA_UPLOAD_MAX_MEMORY_SIZE


def declared_length(headers: Iterable[tuple[bytes, bytes]]) -> int | None:
    """The Content-Length header as a number, or None if absent or not a number."""
    for name, value in headers:
        if name.lower() == b"content-length":
            return int(value) if value.strip().isdigit() else None
    return None


def refusal(status: int, limit: int, timeout: float) -> tuple[bytes, bytes]:
    """(reason phrase, JSON body) of a 413 or 408, in the API's error shape."""
    if status == 413:
        reason, error = b"Content Too Large", f"body: larger than the limit of {limit} bytes"
    else:
        reason, error = b"Request Timeout", f"body: not received within {timeout:g} seconds"
    return reason, json.dumps({"success": False, "error": error}).encode()


class BodyLimitMiddleware:
    """ASGI middleware: the body is read here, bounded in size and time, then replayed."""

    def __init__(self, app: Callable[[Scope, Receive, Send], Awaitable[None]]) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = body_limit(scope["path"])
        declared = declared_length(scope.get("headers", []))
        if declared is not None and declared > limit:
            await self.refuse(send, 413, limit)
            return
        chunks: list[bytes] = []
        size = 0
        deadline = asyncio.get_running_loop().time() + BODY_TIMEOUT_SECONDS
        while True:
            try:
                async with asyncio.timeout_at(deadline):
                    message = await receive()
            except TimeoutError:
                await self.refuse(send, 408, limit)
                return
            if message["type"] != "http.request":  # http.disconnect: nobody to answer
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                await self.refuse(send, 413, limit)
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if replayed:
                return await receive()  # after the body: only http.disconnect
            replayed = True
            return {"type": "http.request", "body": body, "more_body": False}

        await self.app(scope, replay, send)

    @staticmethod
    async def refuse(send: Send, status: int, limit: int) -> None:
        _, body = refusal(status, limit, BODY_TIMEOUT_SECONDS)
        headers = [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
            (b"connection", b"close"),
        ]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})
