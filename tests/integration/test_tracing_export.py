"""Tracing across real processes: OTLP/HTTP export, and switching tracing off."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from eventhub.models import Event
from orders.models import Order
from tests.conftest import http_json, wait_until
from tests.integration.flows import SEED_ORDER, wait_for_flow
from tests.integration.otlp import OtlpReceiver, otlp_receiver

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def receiver() -> Iterator[OtlpReceiver]:
    with otlp_receiver() as server:
        yield server


SPAN_KIND_SERVER, SPAN_KIND_PRODUCER, SPAN_KIND_CONSUMER = 2, 4, 5


def test_the_spans_of_one_order_arrive_at_the_otlp_endpoint(
    start_web, start_worker, relay, receiver
):
    otlp = {"OTEL_EXPORTER_OTLP_ENDPOINT": receiver.endpoint, "OTEL_BSP_SCHEDULE_DELAY": "100"}
    web = start_web(**otlp)
    start_worker(**otlp)

    order = http_json("POST", f"{web.url}/orders", SEED_ORDER)["data"]
    assert wait_for_flow(order).status == Order.Status.CONFIRMED
    created = Event.objects.get(correlation_id=order["correlationId"], event_type="order.created")
    assert len(created.trace_id) == 32

    expected = {
        ("eventhub-web", "send order.created", SPAN_KIND_PRODUCER),
        ("eventhub-worker", "process order.created", SPAN_KIND_CONSUMER),
        ("eventhub-worker", "send inventory.updated", SPAN_KIND_PRODUCER),
        ("eventhub-worker", "process inventory.updated", SPAN_KIND_CONSUMER),
        ("eventhub-worker", "send order.status.updated", SPAN_KIND_PRODUCER),
        ("eventhub-worker", "process order.status.updated", SPAN_KIND_CONSUMER),
    }
    wait_until(
        lambda: expected <= set(receiver.of_trace(created.trace_id)),
        message="the order's spans at the OTLP receiver",
    )
    spans = receiver.of_trace(created.trace_id)
    assert any(
        svc == "eventhub-web" and kind == SPAN_KIND_SERVER and "POST" in name
        for svc, name, kind in spans
    ), spans


def test_with_tracing_switched_off_the_flow_works_the_same(start_web, start_worker, relay):
    off = {"OTEL_SDK_DISABLED": "true"}
    web = start_web(**off)
    start_worker(**off)

    order = http_json("POST", f"{web.url}/orders", SEED_ORDER)["data"]
    assert wait_for_flow(order).status == Order.Status.CONFIRMED
    listed = http_json("GET", f"{web.url}/events?correlationId={order['correlationId']}")["data"]
    assert [e["eventType"] for e in listed] == [
        "order.created",
        "inventory.updated",
        "payment.authorized",
        "shipment.created",
        "order.status.updated",
    ]
    assert {e["metadata"]["traceId"] for e in listed} == {None}
