"""daphne's request, bounded: a body is refused as its bytes arrive, before daphne buffers it.

daphne (on Twisted's ``http.Request``) calls the ASGI app only once a whole body has arrived:
until then it writes the body to memory or a temp file, and then it queues all of it for the
app in one go. A chunked 256 MiB ``POST /orders`` grew daphne by 259 MiB before the 413, and
a ``Content-Length: 1 GiB`` with one byte sent held the connection open. ``BoundedWebRequest``
applies ``eventhub.body_limit``'s rules where the bytes come in:

- a declared ``Content-Length`` over the limit is answered 413 as soon as the headers end;
- a chunked (or lying) body is counted chunk by chunk and answered 413 once past the limit;
- a body not complete within ``BODY_TIMEOUT_SECONDS`` of its headers is answered 408.

A refusal writes the response, closes our side (FIN) and reads on, discarding, for up to
``LINGER_SECONDS``, so that a client still sending reads the answer instead of a reset; then
the connection is aborted. The app never sees a refused request.

``install()`` makes daphne's server use it; ``eventhub/asgi.py`` calls it, so every daphne
serving ``eventhub.asgi:application`` (``./bin/run``, the tests, ``manage.py runserver``) has
it. It replaces the factory daphne's ``Server`` builds (``daphne.server.HTTPFactory``): the
one place daphne (4.2) chooses its request class.
"""

from __future__ import annotations

from io import BytesIO
from typing import Any
from urllib.parse import urlsplit

import daphne.server
from daphne.http_protocol import HTTPFactory, WebRequest

from . import body_limit

LINGER_SECONDS = 2.0


def target_path(target: bytes) -> str:
    """The path of a request target (origin form ``/orders?x`` or absolute form)."""
    return urlsplit(target.decode("latin1")).path or "/"


class BoundedWebRequest(WebRequest):
    refused = False
    body_timer: Any = None
    linger_timer: Any = None

    def gotLength(self, length: int | None) -> None:
        """Called by the channel once the headers are in (``length`` None: chunked)."""
        self.body_limit = body_limit.body_limit(target_path(getattr(self.channel, "_path", b"/")))
        self.body_received = 0
        if length is not None and length > self.body_limit:
            self.content = BytesIO()  # never written to: nothing of this body is kept
            self.requestHeaders.removeHeader(b"expect")  # no "100 Continue" after the answer
            self.refuse(413)
            return
        super().gotLength(length)
        if length != 0:
            self.body_timer = self.channel.callLater(
                body_limit.BODY_TIMEOUT_SECONDS, lambda: self.refuse(408)
            )

    def handleContentChunk(self, data: bytes) -> None:
        if self.refused:
            return
        self.body_received += len(data)
        if self.body_received > self.body_limit:
            self.refuse(413)
            return
        super().handleContentChunk(data)

    def requestReceived(self, command: bytes, path: bytes, version: bytes) -> None:
        """The whole body is in: hand it to daphne (and so the app), unless it was refused."""
        self._cancel("body_timer")
        if not self.refused:
            super().requestReceived(command, path, version)

    def refuse(self, status: int) -> None:
        if self.refused or self.channel is None or self.channel.transport is None:
            return
        self.refused = True
        self._cancel("body_timer")
        reason, body = body_limit.refusal(status, self.body_limit, body_limit.BODY_TIMEOUT_SECONDS)
        head = (
            b"HTTP/1.1 %d %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n"
            b"Connection: close\r\n\r\n" % (status, reason, len(body))
        )
        transport = self.channel.transport
        transport.write(head + body)
        transport.loseWriteConnection()
        self.linger_timer = self.channel.callLater(LINGER_SECONDS, transport.abortConnection)
        self.log_refusal(status, len(head) + len(body))

    def log_refusal(self, status: int, size: int) -> None:
        """One line in daphne's access log, as for any answered request."""
        path = target_path(getattr(self.channel, "_path", b"/"))
        method = getattr(self.channel, "_command", b"-").decode("latin1")
        peer = self.client
        self.server.log_action(
            "http",
            "complete",
            {
                "path": path,
                "status": status,
                "method": method,
                "client": f"{getattr(peer, 'host', '-')}:{getattr(peer, 'port', '-')}",
                "time_taken": 0,
                "size": size,
            },
        )

    def connectionLost(self, reason: Any) -> None:
        self._cancel("body_timer")
        self._cancel("linger_timer")
        super().connectionLost(reason)

    def _cancel(self, name: str) -> None:
        timer = getattr(self, name)
        if timer is not None and timer.active():
            timer.cancel()
        setattr(self, name, None)


class BoundedHTTPFactory(HTTPFactory):
    def buildProtocol(self, addr: Any) -> Any:
        protocol = super().buildProtocol(addr)
        protocol.requestFactory = BoundedWebRequest
        return protocol


def install() -> None:
    """Make daphne's ``Server`` build its HTTP protocol with ``BoundedWebRequest``."""
    daphne.server.HTTPFactory = BoundedHTTPFactory
