"""The websocket phase: publish -> receipt on N staff dashboard websockets while a separate
``eventhub_burst`` process publishes at a steady rate, with the web process's CPU time.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import connections
from django.db.models import Max
from django.test import Client
from websockets.asyncio.client import ClientConnection
from websockets.exceptions import ConnectionClosed

from eventhub.models import Event

from ..readiness import HOST
from ..stack_parts import manage_argv
from ..websocket_client import connect, received
from .stack import BENCH_STAFF, Bench, cpu_seconds
from .stats import summarize


def staff_cookie() -> str:
    client = Client()
    client.force_login(get_user_model().objects.get(username=BENCH_STAFF))
    cookie = client.cookies[settings.SESSION_COOKIE_NAME].value
    connections.close_all()
    return cookie


@dataclass
class WsClient:
    seen: set[int] = field(default_factory=set)
    latencies: list[float] = field(default_factory=list)
    messages: int = 0
    closed: str = ""
    """Why the connection ended before the run did ("" while it was open)."""


async def _ws_open(bench: Bench, cookie: str, cursor: int) -> ClientConnection:
    """A dashboard websocket as staff, resumed at ``cursor`` (its replay is skipped)."""
    socket = await connect(
        HOST,
        bench.port,
        "/ws/dashboard/",
        {"Origin": bench.origin, "Cookie": f"{settings.SESSION_COOKIE_NAME}={cookie}"},
    )
    await socket.recv()  # hello
    await socket.send(json.dumps({"type": "resume", "cursor": cursor}))
    return socket


async def _ws_read(socket: ClientConnection, run_id: str, state: WsClient) -> None:
    try:
        await _ws_receive(socket, run_id, state)
        state.closed = "closed by the server"
    except (OSError, ConnectionClosed) as exc:
        state.closed = repr(exc)
    finally:
        await socket.close()


async def _ws_receive(socket: ClientConnection, run_id: str, state: WsClient) -> None:
    async for text in received(socket):
        now = time.time() * 1000  # receipt, before decoding
        message = json.loads(text)
        if message.get("type") != "batch" or message.get("replay"):
            continue
        state.messages += 1
        for event in message["events"]:
            if (
                event["eventType"] == "probe.sent"
                and event["data"].get("runId") == run_id
                and event["position"] not in state.seen
            ):
                state.seen.add(event["position"])
                state.latencies.append(now - event["timestamp"])


async def _websocket_run(
    bench: Bench, *, clients: int, rate_per_s: float, seconds: float, batch: int
) -> dict[str, Any]:
    cookie = await asyncio.to_thread(staff_cookie)
    cursor = await asyncio.to_thread(lambda: Event.objects.aggregate(last=Max("id"))["last"] or 0)
    run_id = f"ws-{uuid.uuid4().hex[:8]}"
    states = [WsClient() for _ in range(clients)]
    sockets = await asyncio.wait_for(
        asyncio.gather(*(_ws_open(bench, cookie, cursor) for _ in range(clients))), 30
    )
    tasks = [
        asyncio.create_task(_ws_read(socket, run_id, state))
        for socket, state in zip(sockets, states, strict=True)
    ]
    await asyncio.sleep(1.0)  # the resume batches are out of the way
    web_cpu = cpu_seconds(bench.web)
    burst = await asyncio.create_subprocess_exec(
        *manage_argv(
            "eventhub_burst",
            *("--rate", str(rate_per_s), "--seconds", str(seconds), "--batch", str(batch)),
            *("--run-id", run_id),
        ),
        env=bench.stack.env,
        stdout=asyncio.subprocess.PIPE,
    )
    out, _ = await burst.communicate()
    web_cpu = cpu_seconds(bench.web) - web_cpu
    if burst.returncode:
        raise RuntimeError(f"eventhub_burst failed with {burst.returncode}")
    published = json.loads(out)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and any(len(s.seen) < published["published"] for s in states):
        if failed := [t for t in tasks if t.done() and t.exception()]:
            raise RuntimeError(f"a websocket client failed: {failed[0].exception()!r}")
        await asyncio.sleep(0.1)
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    per_client = [summarize(s.latencies)["p99"] for s in states]
    return {
        "clients": clients,
        "rate_per_s": rate_per_s,
        "seconds": seconds,
        "publish_batch": batch,
        "published": published["published"],
        "rate_reached": published["eventsPerSecond"],
        "received_min": min(len(s.seen) for s in states),
        "connections_lost": [s.closed for s in states if s.closed],
        "messages_per_client": round(sum(s.messages for s in states) / clients, 1),
        "web_cpu_seconds": round(web_cpu, 2),
        "web_cpu_ms_per_event": round(web_cpu * 1000 / max(1, published["published"]), 3),
        "latency_ms": summarize(x for s in states for x in s.latencies),
        "p99_ms_per_client": per_client,
    }


def measure_websocket(
    bench: Bench, *, clients: int, rate_per_s: float, seconds: float, batch: int
) -> dict[str, Any]:
    return asyncio.run(
        _websocket_run(bench, clients=clients, rate_per_s=rate_per_s, seconds=seconds, batch=batch)
    )
