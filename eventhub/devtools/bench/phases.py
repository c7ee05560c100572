"""One benchmark variant (one database, tracing on or off): a stack and the measurements.

Runs inside ``manage.py eventhub_bench --variant ...``, a process whose environment already
names the database, the Redis (started by the parent), ``OTEL_SDK_DISABLED`` and the bench
plugin, so that this process publishes exactly as a web process of that variant would.

Every measurement is paired with its baseline, measured in the same stack minutes apart:

- deliveries/s of ``bench.pinged`` to one no-op subscriber vs ``eventhub.noop`` tasks and vs
  the naive peer's ``eventhub.naive`` tasks (3 ORM writes each, ``bench.naive``), drained by
  the same worker from the same queue;
- publish -> handler-start latency at a quarter of the measured delivery rate vs the no-op
  task's send -> start latency at the same rate;
- ``POST /orders`` vs ``GET /healthz`` and vs the naive peer's plain order view
  (``POST /bench/naive/orders``), same daphne, same keep-alive client;
- publish -> websocket receipt with N dashboard clients at a steady rate;
- worker RSS (main + pool) before and after M deliveries.
"""

from __future__ import annotations

import asyncio
import contextlib
import http.client
import json
import os
import signal
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil
from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import connections
from django.db.models import Max
from websockets.asyncio.client import ClientConnection
from websockets.exceptions import ConnectionClosed

from eventhub.models import Attempt, Delivery, Event
from eventhub.otel import configure, enabled

from ..process_groups import Child, Stack
from ..readiness import HOST, deadline_loop, free_port, wait_for_http
from ..stack_parts import manage_argv, relay_argv, web_argv, worker_argv
from ..websocket_client import connect, received
from . import naive, plugin
from .stats import growth, rate, ratio, summarize

BENCH_PRODUCT = "BENCH-1"
BENCH_STAFF = "bench-staff"
UNFINISHED = [Delivery.Status.PENDING, Delivery.Status.RUNNING, Delivery.Status.RETRYING]
DRAIN_TIMEOUT = 1800.0
RSS_BACKLOG = 5000
"""Unfinished deliveries at most while the RSS phase publishes (REDISPATCH_AFTER is 600 s)."""


def say(line: str) -> None:
    """Progress on stderr; stdout carries only the JSON."""
    print(f"bench | {line}", file=sys.stderr, flush=True)


# --- The stack ------------------------------------------------------------------------------


@dataclass
class Bench:
    stack: Stack
    port: int
    web: Child
    worker: Child
    concurrency: int
    redis: Any = field(default=None)

    @property
    def origin(self) -> str:
        return f"http://{HOST}:{self.port}"

    def redis_client(self) -> Any:
        if self.redis is None:
            import redis

            self.redis = redis.Redis.from_url(settings.REDIS_URL)
        return self.redis

    def wait(self, what: str, done: Callable[[], bool], timeout: float = DRAIN_TIMEOUT) -> None:
        for _ in deadline_loop(timeout, what, self.stack):
            if done():
                return

    @contextlib.contextmanager
    def workers_paused(self) -> Iterator[None]:
        """SIGSTOP the (idle) worker and its pool, so a measurement has the CPUs to itself."""
        pids = worker_pids(self.worker)
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGSTOP)
        try:
            yield
        finally:
            for pid in pids:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGCONT)


@contextlib.contextmanager
def running_stack(log: Path, concurrency: int) -> Iterator[Bench]:
    """daphne, one Celery worker on every queue (``bench`` included) and the relay."""
    stack = Stack(out=log.open("a"))
    stack.env["PYTHONUNBUFFERED"] = "1"
    try:
        port = free_port()
        web = stack.start("web", web_argv(port))
        worker = stack.start("worker", worker_argv(concurrency))
        stack.start("relay", relay_argv())
        wait_for_http(stack, port)
        yield Bench(stack=stack, port=port, web=web, worker=worker, concurrency=concurrency)
    finally:
        connections.close_all()
        stack.stop()


def prepare_database() -> dict[str, Any]:
    """Migrate; on PostgreSQL start from empty tables (only a database named *bench*)."""
    from django.apps import apps
    from django.core.management import call_command
    from django.core.management.base import CommandError

    db = settings.DATABASES["default"]
    call_command("migrate", interactive=False, verbosity=0)
    if connections["default"].vendor != "sqlite":
        if "bench" not in str(db["NAME"]):
            raise CommandError(
                f"the benchmark empties its database; {db['NAME']!r} is not named *bench*"
            )
        call_command("flush", interactive=False, verbosity=0)
    product = apps.get_model("inventory", "Product")
    product.objects.update_or_create(
        product_id=BENCH_PRODUCT, defaults={"name": "Benchmark", "price": 1, "stock": 10**9}
    )
    user, _ = get_user_model().objects.get_or_create(username=BENCH_STAFF)
    user.is_staff = user.is_superuser = True
    user.set_unusable_password()
    user.save()
    connections.close_all()
    return {"vendor": connections["default"].vendor, "name": str(db["NAME"])}


# --- HTTP -----------------------------------------------------------------------------------

ORDER_BODY = json.dumps({"userId": "bench", "items": [{"productId": BENCH_PRODUCT, "quantity": 1}]})


def hammer(
    port: int,
    *,
    method: str,
    path: str,
    count: int,
    clients: int,
    run: str,
    body: str | None = None,
    expect: int = 200,
) -> tuple[float, list[float]]:
    """``count`` requests from ``clients`` keep-alive connections; (seconds, latencies in ms)."""

    def client(indices: range) -> list[float]:
        conn = http.client.HTTPConnection(HOST, port, timeout=60)
        headers = {"Content-Type": "application/json"} if body is not None else {}
        latencies = []
        for i in indices:
            started = time.perf_counter()
            conn.request(
                method, path, body=body, headers={**headers, "X-Correlation-ID": f"{run}-{i}"}
            )
            response = conn.getresponse()
            response.read()
            if response.status != expect:
                raise RuntimeError(f"{method} {path} answered {response.status}")
            latencies.append((time.perf_counter() - started) * 1000)
        conn.close()
        return latencies

    shares = [range(k, count, clients) for k in range(clients)]
    started = time.perf_counter()
    with ThreadPoolExecutor(clients) as pool:
        latencies = [x for chunk in pool.map(client, shares) for x in chunk]
    return time.perf_counter() - started, latencies


def _orders_settled(run: str, count: int) -> bool:
    flows = Event.objects.filter(correlation_id__startswith=f"{run}-")
    done = flows.filter(event_type="order.status.updated").values("correlation_id").distinct()
    busy = Delivery.objects.filter(
        event__correlation_id__startswith=f"{run}-", status__in=UNFINISHED
    ).exists()
    return done.count() >= count and not busy


def idle() -> bool:
    return not Delivery.objects.filter(status__in=UNFINISHED).exists()


def measure_orders(bench: Bench, *, orders: int, clients: int) -> dict[str, Any]:
    """Orders placed over HTTP while the workers run, until every flow has settled."""
    run = f"orders-{uuid.uuid4().hex[:6]}"
    started = time.perf_counter()
    post_seconds, latencies = hammer(
        bench.port, method="POST", path="/orders", body=ORDER_BODY, expect=201,
        count=orders, clients=clients, run=run,
    )  # fmt: skip
    bench.wait("every order flow to settle", lambda: _orders_settled(run, orders))
    total = time.perf_counter() - started
    deliveries = Delivery.objects.filter(event__correlation_id__startswith=f"{run}-").count()
    return {
        "orders": orders,
        "deliveries": deliveries,
        "orders_per_s": rate(orders, total),
        "deliveries_per_s": rate(deliveries, total),
        "post_orders_per_s_while_workers_run": rate(orders, post_seconds),
        "post_latency_ms": summarize(latencies),
        "end_to_end_seconds": round(total, 2),
    }


def measure_http(
    bench: Bench, *, requests: int, healthz_requests: int, clients: int
) -> dict[str, Any]:
    """GET /healthz, POST /orders and the naive peer's plain order view, same daphne and
    client, the workers paused for all three.

    Paused (SIGSTOP, once idle) so that both rates are the web process's own: on two CPUs a
    running worker would take a CPU from the orders and none from the bare view.
    """
    bench.wait("the workers to be idle", idle)
    run = f"http-{uuid.uuid4().hex[:6]}"
    with bench.workers_paused():
        cpu_start = cpu_seconds(bench.web)
        bare_seconds, bare = hammer(
            bench.port, method="GET", path="/healthz", count=healthz_requests,
            clients=clients, run=run,
        )  # fmt: skip
        cpu_between = cpu_seconds(bench.web)
        post_seconds, post = hammer(
            bench.port, method="POST", path="/orders", body=ORDER_BODY, expect=201,
            count=requests, clients=clients, run=run,
        )  # fmt: skip
        cpu_end = cpu_seconds(bench.web)
        naive_seconds, naive_latencies = hammer(
            bench.port, method="POST", path="/bench/naive/orders", body=ORDER_BODY, expect=201,
            count=requests, clients=clients, run=f"{run}-naive",
        )  # fmt: skip
        naive_cpu = cpu_seconds(bench.web) - cpu_end
    bare_cpu, post_cpu = cpu_between - cpu_start, cpu_end - cpu_between
    bench.wait("the paused orders to settle", lambda: _orders_settled(run, requests))
    healthz_per_s = rate(healthz_requests, bare_seconds)
    post_per_s = rate(requests, post_seconds)
    naive_per_s = rate(requests, naive_seconds)
    return {
        "requests": {"healthz": healthz_requests, "post_orders": requests, "naive": requests},
        "clients": clients,
        "healthz_per_s": healthz_per_s,
        "post_orders_per_s": post_per_s,
        "naive_per_s": naive_per_s,
        "ratio": ratio(post_per_s, healthz_per_s),
        "ratio_naive": ratio(post_per_s, naive_per_s),
        "web_cpu_ms_per_request": {
            "healthz": round(bare_cpu * 1000 / healthz_requests, 3),
            "post_orders": round(post_cpu * 1000 / requests, 3),
            "naive": round(naive_cpu * 1000 / requests, 3),
        },
        "healthz_latency_ms": summarize(bare),
        "post_latency_ms": summarize(post),
        "naive_latency_ms": summarize(naive_latencies),
    }


# --- Deliveries vs the no-op task -----------------------------------------------------------


def noop_send(key: str) -> None:
    """The baseline's enqueue, with the options dispatch gives a delivery."""
    timeout = float(settings.EVENTHUB["DEFAULT_TIMEOUT_SECONDS"])
    plugin.noop.apply_async(
        args=[key, time.time()],
        queue=plugin.QUEUE,
        soft_time_limit=timeout,
        time_limit=timeout + 5,
        retry=False,
    )


def _noop_records(bench: Bench, key: str) -> list[tuple[float, float]]:
    rows = bench.redis_client().lrange(key, 0, -1)
    pairs = (row.decode().split(",") for row in rows)
    return [(float(sent), float(received)) for sent, received in pairs]


def _wait_noop(bench: Bench, key: str, count: int) -> list[tuple[float, float]]:
    client = bench.redis_client()
    bench.wait(f"{count} no-op tasks", lambda: client.llen(key) >= count)
    records = _noop_records(bench, key)
    client.delete(key)
    return records


def drain_noop(bench: Bench, count: int, *, paused: bool) -> dict[str, Any]:
    """``count`` no-op tasks; with ``paused``, all enqueued before the worker may take one."""
    key = f"bench:noop:{uuid.uuid4().hex}"
    cpu = cpu_seconds(bench.worker)
    started = time.time()
    with bench.workers_paused() if paused else contextlib.nullcontext():
        for _ in range(count):
            noop_send(key)
        published = time.time()
    records = _wait_noop(bench, key, count)
    cpu = cpu_seconds(bench.worker) - cpu
    last = max(r[1] for r in records)
    return {
        "count": count,
        "worker_cpu_ms_each": round(cpu * 1000 / count, 3),
        "per_s": rate(count, last - (published if paused else started)),
        "publish_per_s": rate(count, published - started),
    }


def drain_naive(bench: Bench, count: int) -> dict[str, Any]:
    """``count`` naive-peer tasks, all enqueued before the worker may take one."""
    run_id = f"naive-{uuid.uuid4().hex[:6]}"
    timeout = float(settings.EVENTHUB["DEFAULT_TIMEOUT_SECONDS"])
    cpu = cpu_seconds(bench.worker)
    started = time.time()
    with bench.workers_paused():
        for number in range(count):
            naive.naive.apply_async(
                args=[run_id, number, time.time()],
                queue=plugin.QUEUE,
                soft_time_limit=timeout,
                time_limit=timeout + 5,
                retry=False,
            )
        published = time.time()
    bench.wait(f"{count} naive tasks", lambda: naive.naive_runs(run_id).count() >= count)
    cpu = cpu_seconds(bench.worker) - cpu
    last = (
        Attempt.objects.filter(delivery__in=naive.naive_runs(run_id))
        .aggregate(last=Max("finished_at"))["last"]
        .timestamp()
    )
    return {
        "count": count,
        "worker_cpu_ms_each": round(cpu * 1000 / count, 3),
        "per_s": rate(count, last - published),
        "publish_per_s": rate(count, published - started),
    }


@dataclass
class PingRun:
    run_id: str
    low: int = 0
    high: int = 0

    def deliveries(self) -> Any:
        return Delivery.objects.filter(
            subscriber=plugin.SUBSCRIBER, event_id__gte=self.low, event_id__lte=self.high
        )

    def attempts(self) -> Any:
        return Attempt.objects.filter(
            delivery__subscriber=plugin.SUBSCRIBER,
            delivery__event_id__gte=self.low,
            delivery__event_id__lte=self.high,
        )

    def publish(self, start: int, count: int) -> None:
        positions = plugin.pings_publish(run_id=self.run_id, start=start, count=count)
        self.low = self.low or positions[0]
        self.high = positions[-1]

    def unfinished(self) -> int:
        return int(self.deliveries().filter(status__in=UNFINISHED).count())

    def wait(self, bench: Bench) -> None:
        bench.wait(
            f"the deliveries of {self.run_id}",
            lambda: not self.deliveries().filter(status__in=UNFINISHED).exists(),
        )


def drain_deliveries(
    bench: Bench, count: int, batch: int, *, paused: bool, backlog: int = 0
) -> dict[str, Any]:
    """``count`` pings through the outbox, ``batch`` per commit; with ``paused``, every one is
    recorded and handed to the broker before the worker may take one, so that the rate is the
    worker's drain rate alone; otherwise publishing and draining overlap (end to end).

    ``backlog`` (not paused) holds the publisher back while that many deliveries are
    unfinished, so that none waits in the queue long enough for the relay to redispatch it.
    """
    run = PingRun(f"drain-{uuid.uuid4().hex[:6]}")
    cpu = cpu_seconds(bench.worker)
    started = time.time()
    with bench.workers_paused() if paused else contextlib.nullcontext():
        for start in range(0, count, batch):
            while backlog and run.high and run.unfinished() > backlog:
                time.sleep(0.2)  # waiting for the worker to catch up
            run.publish(start, min(batch, count - start))
        published = time.time()
    run.wait(bench)
    cpu = cpu_seconds(bench.worker) - cpu
    succeeded = run.deliveries().filter(status=Delivery.Status.SUCCEEDED).count()
    last = run.attempts().aggregate(last=Max("finished_at"))["last"].timestamp()
    return {
        "count": count,
        "worker_cpu_ms_each": round(cpu * 1000 / count, 3),
        "succeeded": succeeded,
        "per_s": rate(count, last - (published if paused else started)),
        "publish_per_s": rate(count, published - started),
        "publish_batch": batch,
    }


def measure_drain(bench: Bench, *, count: int, batch: int) -> dict[str, Any]:
    """Drain rates: queue filled while the worker is paused, then timed from resume to last.

    Baselines: the no-op task and the naive peer (a plain task doing 3 ORM writes). Also the
    publishing rates: outbox + dispatch per event vs a bare ``apply_async``.
    """
    bench.wait("the workers to be idle", idle)
    noop = drain_noop(bench, count, paused=True)
    naive_peer = drain_naive(bench, count)
    deliveries = drain_deliveries(bench, count, batch, paused=True)
    cpu_noop = noop["worker_cpu_ms_each"]
    return {
        "count": count,
        "deliveries_per_s": deliveries["per_s"],
        "noop_per_s": noop["per_s"],
        "naive_per_s": naive_peer["per_s"],
        "ratio": ratio(deliveries["per_s"], noop["per_s"]),
        "ratio_naive": ratio(deliveries["per_s"], naive_peer["per_s"]),
        "publish_per_s": {
            "deliveries": deliveries["publish_per_s"],
            "noop": noop["publish_per_s"],
            "naive": naive_peer["publish_per_s"],
        },
        "worker_cpu_ms_each": {
            "deliveries": deliveries["worker_cpu_ms_each"],
            "noop": cpu_noop,
            "naive": naive_peer["worker_cpu_ms_each"],
        },
        "cpu_ratio_noop": ratio(deliveries["worker_cpu_ms_each"], cpu_noop),
        "deliveries": deliveries,
        "noop": noop,
        "naive": naive_peer,
    }


# --- Latency at a steady rate ---------------------------------------------------------------


def _paced(rate_per_s: float, count: int, send: Callable[[int], None]) -> float:
    """Call ``send(i)`` ``count`` times at ``rate_per_s``; returns the rate reached."""
    started = time.monotonic()
    for i in range(count):
        delay = started + i / rate_per_s - time.monotonic()
        if delay > 0:
            time.sleep(delay)  # pacing the publisher
        send(i)
    elapsed = time.monotonic() - started
    return round(count / elapsed, 1) if elapsed else float(count)


def measure_latency(bench: Bench, *, rate_per_s: float, seconds: float) -> dict[str, Any]:
    """publish -> handler start vs the no-op task's send -> start, same rate, one at a time."""
    count = max(20, int(rate_per_s * seconds))
    key = f"bench:latency:{uuid.uuid4().hex}"
    noop_rate = _paced(rate_per_s, count, lambda _: noop_send(key))
    noop_ms = [(received - sent) * 1000 for sent, received in _wait_noop(bench, key, count)]

    run = PingRun(f"latency-{uuid.uuid4().hex[:6]}")
    delivery_rate = _paced(rate_per_s, count, lambda i: run.publish(i, 1))
    run.wait(bench)
    rows = run.attempts().filter(number=1).values_list("started_at", "delivery__event__timestamp")
    delivery_ms = [started.timestamp() * 1000 - published for started, published in rows]

    noop, delivery = summarize(noop_ms), summarize(delivery_ms)
    return {
        "rate_per_s": round(rate_per_s, 1),
        "count": count,
        "rate_reached": {"deliveries": delivery_rate, "noop": noop_rate},
        "delivery_ms": delivery,
        "noop_ms": noop,
        "p99_over_noop_ms": (
            round(delivery["p99"] - noop["p99"], 1)
            if delivery["p99"] is not None and noop["p99"] is not None
            else None
        ),
    }


# --- Websocket receipt ----------------------------------------------------------------------


def staff_cookie() -> str:
    from django.test import Client

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


# --- Worker memory --------------------------------------------------------------------------


def process_tree(child: Child) -> list[psutil.Process]:
    """A child process, then its own children (a worker's pool)."""
    main = psutil.Process(child.proc.pid)
    return [main, *main.children(recursive=True)]


def cpu_seconds(child: Child) -> float:
    """User + system CPU of a child process and its own children so far."""
    total = 0.0
    for proc in process_tree(child):
        with contextlib.suppress(psutil.Error):
            times = proc.cpu_times()
            total += times.user + times.system
    return total


def worker_pids(worker: Child) -> list[int]:
    return [p.pid for p in process_tree(worker)]


def worker_rss(worker: Child) -> dict[str, Any]:
    main, *pool = process_tree(worker)
    mb = 2**20
    return {
        "main_mb": round(main.memory_info().rss / mb, 1),
        "pool_mb": sorted(round(p.memory_info().rss / mb, 1) for p in pool),
        "total_mb": round(sum(p.memory_info().rss for p in [main, *pool]) / mb, 1),
        "pool_pids": sorted(p.pid for p in pool),
    }


def measure_rss(bench: Bench, *, count: int, batch: int) -> dict[str, Any]:
    bench.wait("the workers to be idle", idle)
    before = worker_rss(bench.worker)
    drained = drain_deliveries(bench, count, batch, paused=False, backlog=RSS_BACKLOG)
    after = worker_rss(bench.worker)
    return {
        "deliveries": count,
        "deliveries_per_s_end_to_end": drained["per_s"],
        "before": before,
        "after": after,
        "growth": growth(before["total_mb"], after["total_mb"]),
        "same_pool": before["pool_pids"] == after["pool_pids"],
    }


def warm_up(bench: Bench, clients: int) -> None:
    """The first requests and tasks of each process pay for imports and connections."""
    run = f"warm-{uuid.uuid4().hex[:6]}"
    hammer(bench.port, method="GET", path="/healthz", count=50, clients=clients, run=run)
    hammer(
        bench.port, method="POST", path="/orders", body=ORDER_BODY, expect=201,
        count=10, clients=2, run=run,
    )  # fmt: skip
    drain_noop(bench, 200, paused=False)
    drain_deliveries(bench, 200, 50, paused=False)
    bench.wait("the warm-up to settle", lambda: _orders_settled(run, 10))


def load_average() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


PHASES = ("orders", "http", "drain", "latency", "websocket", "rss")


def run_phase(
    phase: str, bench: Bench, options: dict[str, Any], result: dict[str, Any]
) -> dict[str, Any] | None:
    """One measurement (the earlier ones' figures in ``result``); None if it was skipped."""
    if phase == "orders":
        say(f"orders: {options['orders']} over HTTP, end to end")
        return measure_orders(bench, orders=options["orders"], clients=options["clients"])
    if phase == "http":
        say("http: GET /healthz, then POST /orders, the workers paused")
        return measure_http(
            bench,
            requests=options["http_requests"],
            healthz_requests=options["healthz_requests"],
            clients=options["clients"],
        )
    if phase == "drain":
        say(f"drain: {options['deliveries']} no-op tasks, then deliveries")
        return measure_drain(bench, count=options["deliveries"], batch=options["publish_batch"])
    if phase == "latency":
        measured = result.get("drain", {}).get("deliveries_per_s")
        rate_per_s = options["latency_rate"] or (measured / 4 if measured else 25.0)
        say(f"latency: {rate_per_s:.0f}/s for {options['latency_seconds']} s, each")
        return measure_latency(bench, rate_per_s=rate_per_s, seconds=options["latency_seconds"])
    if phase == "websocket":
        say(f"websocket: {options['ws_clients']} clients, {options['ws_rate']:.0f} events/s")
        return measure_websocket(
            bench,
            clients=options["ws_clients"],
            rate_per_s=options["ws_rate"],
            seconds=options["ws_seconds"],
            batch=options["ws_batch"],
        )
    if phase == "rss" and options["rss_deliveries"]:
        say(f"rss: worker memory over {options['rss_deliveries']} deliveries")
        return measure_rss(bench, count=options["rss_deliveries"], batch=options["publish_batch"])
    return None


def run_variant(options: dict[str, Any], log: Path) -> dict[str, Any]:
    """Every phase named in ``options["phases"]``, on one stack; the figures as a dict."""
    configure("eventhub-bench")  # this process publishes like a web process of the variant
    phases: list[str] = options["phases"]
    result: dict[str, Any] = {
        "database": prepare_database(),
        "tracing": enabled(),
        "load_average_before": load_average(),
    }
    timer = time.monotonic()
    with running_stack(log, options["concurrency"]) as bench:
        result["database"]["conn_max_age"] = settings.DATABASES["default"]["CONN_MAX_AGE"]
        result["worker"] = {
            "concurrency": bench.concurrency,
            "prefetch_multiplier": settings.CELERY_WORKER_PREFETCH_MULTIPLIER,
            "acks_late": settings.CELERY_TASK_ACKS_LATE,
        }
        say("warming up")
        warm_up(bench, options["clients"])
        laps = result["phase_seconds"] = {"start_and_warm_up": round(time.monotonic() - timer, 1)}
        for phase in [p for p in PHASES if p in phases]:
            clock = time.monotonic()
            measured = run_phase(phase, bench, options, result)
            if measured is not None:
                result[phase] = measured
                laps[phase] = round(time.monotonic() - clock, 1)
    result["load_average_after"] = load_average()
    result["seconds"] = round(time.monotonic() - timer, 1)
    return result
