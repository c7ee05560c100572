"""OpenTelemetry: one connected trace from the HTTP request to the last handler.

These tests run the worker as a thread of the test process (solo pool) so that the SDK's
in-memory exporter sees the web, publish and process spans alike.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from django.test import Client
from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from eventhub.bus.dead_letters import dead_letter_retry
from eventhub.models import Delivery, Event, FaultRule
from tests.conftest import wait_until
from tests.integration.flows import SEED_ORDER, place_order, wait_for_flow

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

MESSAGING_KEYS = {
    "messaging.system",
    "messaging.destination.name",
    "messaging.message.id",
    "messaging.operation.type",
    "messaging.message.conversation_id",
    "eventhub.event_id",
    "eventhub.correlation_id",
    "eventhub.causation_id",
}


@pytest.fixture(scope="session")
def exporter() -> InMemorySpanExporter:
    from eventhub.otel import instrument

    memory = InMemorySpanExporter()
    provider = TracerProvider(resource=Resource.create({"service.name": "eventhub-test"}))
    provider.add_span_processor(SimpleSpanProcessor(memory))
    trace.set_tracer_provider(provider)
    instrument()
    return memory


@pytest.fixture
def spans(exporter: InMemorySpanExporter, settings) -> Iterator[InMemorySpanExporter]:
    settings.EVENTHUB = {**settings.EVENTHUB, "RETRY_DELAY_SCALE": 0.02}
    exporter.clear()
    yield exporter


@pytest.fixture
def thread_worker(redis_server, transactional_db, spans) -> Iterator[None]:
    from celery.contrib.testing.worker import start_worker

    from eventhub.bus import subscribers
    from eventhub.celery import app

    redis_server.flush()
    with start_worker(
        app,
        pool="solo",
        concurrency=1,
        perform_ping_check=False,
        loglevel="WARNING",
        queues=["eventhub", *subscribers.queues()],
        shutdown_timeout=30,
    ):
        yield


def _hex(span: ReadableSpan) -> str:
    return format(span.context.trace_id, "032x")


def _messaging(
    spans: list[ReadableSpan], kind: SpanKind, correlation_id: str
) -> list[ReadableSpan]:
    return [
        s
        for s in spans
        if s.kind is kind and (s.attributes or {}).get("eventhub.correlation_id") == correlation_id
    ]


def test_one_order_makes_one_connected_trace_with_messaging_attributes(thread_worker, relay, spans):
    FaultRule.objects.create(
        subscriber="notifications.order_confirmation",
        enabled=True,
        mode=FaultRule.Mode.NEXT_N,
        remaining=1,
    )
    order = place_order(SEED_ORDER)
    wait_for_flow(order)
    correlation = order["correlationId"]
    finished = list(spans.get_finished_spans())

    [http] = [
        s for s in finished if s.kind is SpanKind.SERVER and "orders" in s.name and "POST" in s.name
    ]
    publishes = _messaging(finished, SpanKind.PRODUCER, correlation)
    processes = _messaging(finished, SpanKind.CONSUMER, correlation)
    events = list(Event.objects.filter(correlation_id=correlation))
    deliveries = Delivery.objects.filter(event__correlation_id=correlation)
    attempts = sum(d.attempts for d in deliveries)

    assert sorted(s.name for s in publishes) == sorted(f"send {e.event_type}" for e in events)
    assert len(processes) == attempts == deliveries.count() + 1  # one failed attempt
    # One trace: every messaging span shares the HTTP span's trace, as a child.
    assert {_hex(s) for s in publishes + processes} == {_hex(http)}
    created = next(s for s in publishes if s.name == "send order.created")
    assert created.parent.span_id != 0
    by_id = {s.context.span_id: s for s in finished}
    root = created
    while root.parent is not None and root.parent.span_id in by_id:
        root = by_id[root.parent.span_id]
    assert root is http

    for span in publishes + processes:
        attributes = span.attributes or {}
        assert set(attributes) >= MESSAGING_KEYS, span.name
        event = next(e for e in events if str(e.event_id) == attributes["eventhub.event_id"])
        assert attributes["messaging.system"] == "eventhub"
        assert attributes["messaging.destination.name"] == event.event_type
        assert attributes["messaging.message.id"] == str(event.event_id)
        assert attributes["messaging.message.conversation_id"] == correlation
        assert attributes["eventhub.causation_id"] == str(event.causation_id or "")
        assert span.name.split(" ", 1) == [attributes["messaging.operation.type"], event.event_type]
        assert _hex(span) == event.trace_id
    for span in processes:
        attributes = span.attributes or {}
        delivery = deliveries.get(
            event__event_id=attributes["eventhub.event_id"],
            subscriber=attributes["eventhub.handler"],
        )
        assert 1 <= attributes["eventhub.attempt"] <= delivery.attempts
        publish = next(
            p
            for p in publishes
            if p.attributes["eventhub.event_id"] == attributes["eventhub.event_id"]
        )
        assert span.parent.span_id == publish.context.span_id

    [failed] = [s for s in processes if s.status.status_code is StatusCode.ERROR]
    assert failed.attributes["eventhub.handler"] == "notifications.order_confirmation"
    assert failed.attributes["eventhub.attempt"] == 1
    assert [e.name for e in failed.events] == ["exception"]
    assert "fault injected" in failed.events[0].attributes["exception.message"]

    listed = Client().get("/events", {"correlationId": correlation}).json()["data"]
    publish_trace = {s.attributes["eventhub.event_id"]: _hex(s) for s in publishes}
    assert {e["eventId"]: e["metadata"]["traceId"] for e in listed} == publish_trace


def test_deliveries_dispatched_by_the_relay_after_an_outage_join_the_original_trace(
    thread_worker, relay, redis_server, spans
):
    redis_server.stop()
    try:
        order = place_order(SEED_ORDER)
    finally:
        redis_server.start()
    wait_for_flow(order, timeout=90)
    finished = list(spans.get_finished_spans())
    created = Event.objects.get(correlation_id=order["correlationId"], event_type="order.created")
    processes = [
        s
        for s in _messaging(finished, SpanKind.CONSUMER, order["correlationId"])
        if s.attributes["eventhub.event_id"] == str(created.event_id)
    ]
    assert len(processes) == Delivery.objects.filter(event=created).count()
    assert {_hex(s) for s in processes} == {created.trace_id}


def test_a_retried_dead_letter_starts_a_span_linked_to_the_original_trace(
    thread_worker, relay, spans
):
    failing = "notifications.order_confirmation"
    FaultRule.objects.create(subscriber=failing, enabled=True, mode=FaultRule.Mode.ALWAYS)
    order = place_order(SEED_ORDER)
    wait_for_flow(order)
    delivery = Delivery.objects.get(
        event__correlation_id=order["correlationId"], subscriber=failing
    )
    assert delivery.status == Delivery.Status.DEAD
    dead_attempts = delivery.attempts

    FaultRule.objects.filter(subscriber=failing).update(enabled=False)
    spans.clear()
    assert dead_letter_retry(delivery_ids=[delivery.pk]) == [delivery.pk]
    wait_until(
        lambda: Delivery.objects.get(pk=delivery.pk).status == Delivery.Status.SUCCEEDED,
        message="the retried delivery to succeed",
    )
    [retried] = [
        s
        for s in spans.get_finished_spans()
        if s.kind is SpanKind.CONSUMER and s.attributes.get("eventhub.handler") == failing
    ]
    assert retried.attributes["eventhub.attempt"] == dead_attempts + 1
    assert retried.status.status_code is not StatusCode.ERROR
    original = delivery.event.trace_id
    assert [format(link.context.trace_id, "032x") for link in retried.links] == [original]
    assert _hex(retried) != original  # a new trace, linked, not a child of a days-old span
