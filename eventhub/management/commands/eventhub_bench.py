"""``manage.py eventhub_bench``: end-to-end throughput, printed as JSON.

For each variant (tracing on, tracing off) it starts a fresh stack like ``runstack`` does
(embedded Redis unless REDIS_URL is set, daphne, one Celery worker, the relay) on the
configured database, places ``--orders`` orders over HTTP from ``--clients`` threads, and
waits until every flow has settled. It reports POST /orders requests/s and orders/s and
deliveries/s completed end to end. Run it on a scratch database (``bin/bench`` does).
"""

from __future__ import annotations

import http.client
import json
import os
import statistics
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand
from django.db import connections

from eventhub.management.commands.runstack import (
    HOST,
    Stack,
    _deadline_loop,
    _http_answers,
    _port_free,
    relay_argv,
    start_redis,
    web_argv,
    worker_argv,
)
from eventhub.models import Delivery, Event

BENCH_PRODUCT = "BENCH-1"
UNFINISHED = [Delivery.Status.PENDING, Delivery.Status.RUNNING, Delivery.Status.RETRYING]


def _free_port() -> int:
    return next(p for p in range(18000, 18999) if _port_free(p))


def _ensure_bench_product() -> None:
    from django.apps import apps

    product = apps.get_model("inventory", "Product")
    product.objects.update_or_create(
        product_id=BENCH_PRODUCT, defaults={"name": "Benchmark", "price": 1, "stock": 10**9}
    )


def _post_orders(port: int, count: int, clients: int, run: str) -> tuple[list[float], float]:
    body = json.dumps({"userId": "bench", "items": [{"productId": BENCH_PRODUCT, "quantity": 1}]})

    def client(indices: range) -> list[float]:
        conn = http.client.HTTPConnection(HOST, port, timeout=30)
        latencies = []
        for i in indices:
            started = time.perf_counter()
            conn.request(
                "POST",
                "/orders",
                body=body,
                headers={"Content-Type": "application/json", "X-Correlation-ID": f"{run}-{i}"},
            )
            response = conn.getresponse()
            response.read()
            if response.status != 201:
                raise RuntimeError(f"POST /orders answered {response.status}")
            latencies.append(time.perf_counter() - started)
        conn.close()
        return latencies

    shares = [range(k, count, clients) for k in range(clients)]
    started = time.perf_counter()
    with ThreadPoolExecutor(clients) as pool:
        latencies = [x for chunk in pool.map(client, shares) for x in chunk]
    return latencies, time.perf_counter() - started


def _settled(run: str, count: int) -> bool:
    flows = Event.objects.filter(correlation_id__startswith=f"{run}-")
    done = flows.filter(event_type="order.status.updated").count()
    busy = Delivery.objects.filter(
        event__correlation_id__startswith=f"{run}-", status__in=UNFINISHED
    ).exists()
    return done >= count and not busy


def run_variant(name: str, env: dict[str, str], orders: int, clients: int, log: Path) -> dict:
    stack = Stack(out=log.open("a"))
    stack.env.update(env)
    try:
        if not os.environ.get("REDIS_URL"):
            stack.env["REDIS_URL"] = start_redis(stack)
        port = _free_port()
        stack.start("web", web_argv(port))
        stack.start("worker", worker_argv(2))
        stack.start("relay", relay_argv())
        for _ in _deadline_loop(60, "daphne", stack):
            if _http_answers(port):
                break
        run = f"bench-{name}-{uuid.uuid4().hex[:6]}"
        _post_orders(port, 10, 2, f"warm-{run}")  # first requests pay for imports
        started = time.perf_counter()
        latencies, post_seconds = _post_orders(port, orders, clients, run)
        for _ in _deadline_loop(600, "every flow to settle", stack):
            if _settled(run, orders):
                break
        total = time.perf_counter() - started
        deliveries = Delivery.objects.filter(event__correlation_id__startswith=f"{run}-").count()
        connections.close_all()
        latencies.sort()
        return {
            "variant": name,
            "orders": orders,
            "deliveries": deliveries,
            "post_orders_per_s": round(orders / post_seconds, 1),
            "post_latency_ms_p50": round(statistics.median(latencies) * 1000, 1),
            "post_latency_ms_p99": round(latencies[int(len(latencies) * 0.99) - 1] * 1000, 1),
            "orders_completed_per_s": round(orders / total, 1),
            "deliveries_completed_per_s": round(deliveries / total, 1),
            "end_to_end_seconds": round(total, 2),
        }
    finally:
        stack.stop()


class Command(BaseCommand):
    help = "Measure end-to-end throughput with tracing on and off; prints JSON."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--orders", type=int, default=300)
        parser.add_argument("--clients", type=int, default=8)
        parser.add_argument("--variants", default="tracing-on,tracing-off")

    def handle(self, *args: Any, orders: int, clients: int, variants: str, **options: Any) -> None:
        call_command("migrate", interactive=False, verbosity=0)
        _ensure_bench_product()
        connections.close_all()
        log = Path(settings.VAR_DIR) / "bench.log"
        envs = {
            "tracing-on": {"OTEL_SDK_DISABLED": "false"},
            "tracing-off": {"OTEL_SDK_DISABLED": "true"},
        }
        results = [
            run_variant(name, envs[name], orders, clients, log) for name in variants.split(",")
        ]
        db = settings.DATABASES["default"]["ENGINE"].rsplit(".", 1)[-1]
        report: dict[str, Any] = {"database": db, "cpus": os.cpu_count(), "results": results}
        by_name = {r["variant"]: r for r in results}
        if {"tracing-on", "tracing-off"} <= by_name.keys():
            on, off = by_name["tracing-on"], by_name["tracing-off"]
            report["tracing_cost"] = {
                "orders_completed_ratio": round(
                    on["orders_completed_per_s"] / off["orders_completed_per_s"], 3
                ),
                "post_orders_ratio": round(on["post_orders_per_s"] / off["post_orders_per_s"], 3),
            }
        self.stdout.write(json.dumps(report, indent=2))
