"""GET /metrics after real orders on a real prefork worker: the figures are the rows' counts.

Two pool processes, and a worker restart half-way: a per-process registry would lose or
split counts here, the database-derived figures must not.
"""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import urllib.error
import urllib.request
from collections import Counter, defaultdict
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.contrib.auth import get_user_model
from django.test import Client
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader

from eventhub.bus import subscribers
from eventhub.metrics.pushed import observe_database
from eventhub.models import Attempt, Delivery, Event, FaultRule
from tests.conftest import ROOT, wait_until
from tests.integration.flows import SEED_ORDER, place_order, wait_for_flow
from tests.integration.otlp import OtlpReceiver, otlp_receiver

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

TOKEN = "scrape-token-for-tests"
DEAD = "notifications.order_confirmation"  # at-least-once: retried, then dead-lettered
FAILS = "orders.count_outcomes"  # at-most-once: one failed attempt is final
SAMPLE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$")
LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


def parse(text: str) -> dict[str, list[tuple[dict[str, str], float]]]:
    """Prometheus text format -> {sample name: [(labels, value), ...]}."""
    samples: dict[str, list[tuple[dict[str, str], float]]] = defaultdict(list)
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        match = SAMPLE.match(line)
        assert match, f"not a sample line: {line!r}"
        name, labels, value = match.groups()
        samples[name].append((dict(LABEL.findall(labels or "")), float(value)))
    return samples


def summed(samples: list[tuple[dict[str, str], float]], by: str) -> dict[str, float]:
    totals: dict[str, float] = defaultdict(float)
    for labels, value in samples:
        totals[labels[by]] += value
    return {key: value for key, value in totals.items() if value}


def scrape(client: Client | None = None, **headers: str) -> tuple[int, str]:
    response = (client or Client()).get("/metrics", headers=headers)
    return response.status_code, response.content.decode()


@pytest.fixture
def metrics_token(settings) -> str:
    settings.EVENTHUB = {**settings.EVENTHUB, "METRICS_TOKEN": TOKEN}
    return TOKEN


def test_scraped_totals_equal_the_rows_after_20_orders_on_two_processes_and_a_restart(
    start_worker, relay, metrics_token
):
    worker = start_worker(concurrency=2)
    # One order whose confirmation mail always fails: it is retried, then dead-lettered.
    FaultRule.objects.create(subscriber=DEAD, enabled=True, mode=FaultRule.Mode.ALWAYS)
    FaultRule.objects.create(
        subscriber=FAILS, enabled=True, mode=FaultRule.Mode.NEXT_N, remaining=1
    )
    wait_for_flow(place_order(SEED_ORDER))
    FaultRule.objects.filter(subscriber=DEAD).update(enabled=False)
    for _ in range(9):
        wait_for_flow(place_order(SEED_ORDER))
    worker.stop()  # a restart: new pool processes, empty memories
    start_worker(concurrency=2)
    for _ in range(10):
        wait_for_flow(place_order(SEED_ORDER))

    assert len(set(Attempt.objects.values_list("worker", flat=True))) >= 2
    status, text = scrape(Authorization=f"Bearer {metrics_token}")
    assert status == 200, text
    metrics = parse(text)

    rows = Counter(Delivery.objects.values_list("status", flat=True))
    assert rows[Delivery.Status.DEAD] == 1 and rows[Delivery.Status.FAILED] == 1, rows
    assert summed(metrics["eventhub_deliveries_total"], "outcome") == {
        "succeeded": rows[Delivery.Status.SUCCEEDED],
        "failed": 1,
        "dead": 1,
    }
    assert summed(metrics["eventhub_dead_letters"], "subscriber") == {DEAD: 1}

    attempts = Counter(Attempt.objects.values_list("outcome", flat=True))
    assert summed(metrics["eventhub_attempts_total"], "outcome") == dict(attempts)
    # Every attempt of the dead letter failed, and the at-most-once delivery's one attempt.
    assert attempts[Attempt.Outcome.FAILED] == subscribers.get(DEAD).max_attempts + 1

    by_subscriber = Counter(Attempt.objects.values_list("delivery__subscriber", flat=True))
    assert summed(metrics["eventhub_handler_duration_seconds_count"], "subscriber") == dict(
        by_subscriber
    )
    first_by_queue = Counter(
        Attempt.objects.filter(number=1).values_list("delivery__queue", flat=True)
    )
    assert summed(metrics["eventhub_queue_wait_seconds_count"], "queue") == dict(first_by_queue)
    assert sum(first_by_queue.values()) == Delivery.objects.count()
    for family in ("eventhub_handler_duration_seconds", "eventhub_queue_wait_seconds"):
        counts = {tuple(sorted(lab.items())): v for lab, v in metrics[f"{family}_count"]}
        buckets: dict[tuple, list[float]] = defaultdict(list)
        for labels, value in metrics[f"{family}_bucket"]:
            le = labels.pop("le")
            buckets[tuple(sorted(labels.items()))].append(value)
            if le == "+Inf":
                assert value == counts[tuple(sorted(labels.items()))]
        assert all(values == sorted(values) for values in buckets.values()), family

    events = Counter(Event.objects.values_list("event_type", flat=True))
    assert summed(metrics["eventhub_events_published_total"], "event_type") == dict(events)
    assert events["order.created"] == 20 and events["event.processing.failed"] == 1
    assert metrics["eventhub_outbox_lag_seconds"] == [({}, 0.0)]
    assert summed(metrics["eventhub_deliveries_in_flight"], "queue") == {}


def test_the_scrape_endpoint_wants_a_staff_session_or_the_bearer_token(settings):
    settings.EVENTHUB = {**settings.EVENTHUB, "METRICS_TOKEN": ""}
    status, text = scrape()
    assert status == 401 and "staff session or the metrics bearer token" in text
    assert scrape(Authorization="Bearer anything")[0] == 401  # no token configured

    settings.EVENTHUB = {**settings.EVENTHUB, "METRICS_TOKEN": TOKEN}
    assert scrape(Authorization="Bearer not-the-token")[0] == 401
    assert scrape(Authorization=f"Bearer {TOKEN}")[0] == 200

    users = get_user_model().objects
    shopper, staff = Client(), Client()
    shopper.force_login(users.create_user("shopper", password="pw-123456"))
    staff.force_login(users.create_user("operator", password="pw-123456", is_staff=True))
    status, text = scrape(shopper)
    assert status == 403 and "staff" in text
    status, text = scrape(staff)
    assert status == 200 and "# TYPE eventhub_deliveries_total counter" in text


def test_with_metrics_switched_off_the_endpoint_is_not_there(settings):
    settings.EVENTHUB = {**settings.EVENTHUB, "METRICS": False, "METRICS_TOKEN": TOKEN}
    status, text = scrape(Authorization=f"Bearer {TOKEN}")
    assert status == 404 and "EVENTHUB_METRICS=false" in text


def get(url: str, **headers: str) -> tuple[int, str]:
    request = urllib.request.Request(url, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


def test_a_web_process_adds_its_http_request_metrics_from_the_instrumentation(start_web):
    web = start_web(EVENTHUB_METRICS_TOKEN=TOKEN)
    assert get(f"{web.url}/metrics")[0] == 401

    def inventory_requests() -> float:
        status, text = get(f"{web.url}/metrics", Authorization=f"Bearer {TOKEN}")
        assert status == 200, text
        return sum(
            value
            for labels, value in parse(text)["http_server_duration_milliseconds_count"]
            if labels["http_target"] == "inventory" and labels["http_status_code"] == "200"
        )

    before = inventory_requests()  # daphne's readiness probe asked for /inventory already
    for _ in range(3):
        assert get(f"{web.url}/inventory")[0] == 200
    assert inventory_requests() == before + 3


def test_the_database_readings_are_observable_instruments_for_the_otlp_push(redis_server):
    """What the relay pushes over OTLP: the same readings, through the metrics SDK."""
    order = place_order(SEED_ORDER)  # no worker: its deliveries wait at the broker
    reader = InMemoryMetricReader()
    provider = MeterProvider(metric_readers=[reader])
    observe_database(provider)
    data = reader.get_metrics_data()
    assert data is not None
    points = {
        metric.name: [(dict(p.attributes or {}), p.value) for p in metric.data.data_points]
        for resource in data.resource_metrics
        for scope in resource.scope_metrics
        for metric in scope.metrics
    }
    provider.shutdown()

    assert ({"event_type": "order.created"}, 1) in points["eventhub.events.published"]
    waiting = Delivery.objects.filter(event__correlation_id=order["correlationId"]).count()
    assert sum(value for _, value in points["eventhub.deliveries.in_flight"]) == waiting > 0
    assert sum(value for _, value in points["eventhub.deliveries"]) == 0
    assert points["eventhub.outbox.lag"] == [({}, 0)]


@pytest.fixture
def metrics_receiver() -> Iterator[OtlpReceiver]:
    with otlp_receiver() as server:
        yield server


def test_the_relay_pushes_the_database_readings_over_otlp(
    worker_env: dict[str, str], metrics_receiver: OtlpReceiver, tmp_path: Path
):
    """At the SDK's default export interval (60 s): the relay's exit flushes one push."""
    order = place_order(SEED_ORDER)  # no worker: its deliveries wait at the broker
    log = tmp_path / "relay.log"
    relay = subprocess.Popen(
        [sys.executable, "manage.py", "eventhub_relay"],
        cwd=ROOT,
        env={
            **worker_env,
            "OTEL_EXPORTER_OTLP_ENDPOINT": metrics_receiver.endpoint,
            "PYTHONUNBUFFERED": "1",
        },
        stdout=log.open("ab"),
        stderr=subprocess.STDOUT,
    )
    try:
        wait_until(lambda: "relay: running" in log.read_text(), message="the relay to start")
    finally:
        relay.send_signal(signal.SIGTERM)
        assert relay.wait(30) == 0, log.read_text()

    [(service, instance)] = metrics_receiver.instances  # one process, one instance
    assert service == "eventhub-relay" and instance
    published = metrics_receiver.of("eventhub-relay", "eventhub.events.published")
    assert published == [({"event_type": "order.created"}, 1)], log.read_text()
    waiting = Delivery.objects.filter(event__correlation_id=order["correlationId"]).count()
    in_flight = metrics_receiver.of("eventhub-relay", "eventhub.deliveries.in_flight")
    assert sum(value for _, value in in_flight) == waiting > 0
