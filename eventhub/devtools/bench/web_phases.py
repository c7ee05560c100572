"""The web phases: ``orders`` (orders placed over HTTP while the workers run, until every
flow has settled) and ``http`` (``POST /orders`` vs ``GET /healthz`` and vs the naive peer's
plain order view, same daphne and keep-alive client, the workers paused).
"""

from __future__ import annotations

import http.client
import json
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from eventhub.models import Delivery, Event

from ..readiness import HOST
from .stack import BENCH_PRODUCT, UNFINISHED, Bench, cpu_seconds, idle
from .stats import rate, ratio, summarize

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


def orders_settled(run: str, count: int) -> bool:
    flows = Event.objects.filter(correlation_id__startswith=f"{run}-")
    done = flows.filter(event_type="order.status.updated").values("correlation_id").distinct()
    busy = Delivery.objects.filter(
        event__correlation_id__startswith=f"{run}-", status__in=UNFINISHED
    ).exists()
    return done.count() >= count and not busy


def measure_orders(bench: Bench, *, orders: int, clients: int) -> dict[str, Any]:
    """Orders placed over HTTP while the workers run, until every flow has settled."""
    run = f"orders-{uuid.uuid4().hex[:6]}"
    started = time.perf_counter()
    post_seconds, latencies = hammer(
        bench.port, method="POST", path="/orders", body=ORDER_BODY, expect=201,
        count=orders, clients=clients, run=run,
    )  # fmt: skip
    bench.wait("every order flow to settle", lambda: orders_settled(run, orders))
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
    bench.wait("the paused orders to settle", lambda: orders_settled(run, requests))
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
