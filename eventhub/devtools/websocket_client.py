"""Websocket clients for the live pages' streams, on the ``websockets`` library (dev extra).

Ten browsers are too heavy for a 2-CPU machine, so the benchmark and the tests read the
dashboard's and the shop's sockets with this client. ``connect`` sets it up as a browser
tab behaves toward daphne: no compression, no client pings (an idle socket must stay open
on the server's account alone), no size limit on a replay batch, no proxy from the
environment.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

from websockets.asyncio.client import ClientConnection
from websockets.asyncio.client import connect as _connect
from websockets.exceptions import ConnectionClosed


async def connect(
    host: str, port: int, path: str, headers: dict[str, str] | None = None
) -> ClientConnection:
    """An open websocket to ``ws://host:port/path``; ``headers`` such as Origin and Cookie."""
    return await _connect(
        f"ws://{host}:{port}{path}",
        additional_headers=headers or {},
        compression=None,
        ping_interval=None,
        max_size=None,
        proxy=None,
    )


async def received(socket: ClientConnection) -> AsyncIterator[str]:
    """The text messages until the server closes, with any code (then ``socket.close_code``
    holds it). A connection lost without a close frame raises ``ConnectionClosed``."""
    try:
        while True:
            message = await socket.recv()
            yield message if isinstance(message, str) else message.decode()
    except ConnectionClosed as exc:
        if exc.rcvd is None:
            raise
