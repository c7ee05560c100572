"""Tracing across real processes: OTLP/HTTP export, and switching tracing off."""

from __future__ import annotations

import gzip
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)

from eventhub.models import Event
from orders.models import Order
from tests.conftest import http_json, wait_until
from tests.integration.flows import SEED_ORDER, wait_for_flow

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


class Receiver(ThreadingHTTPServer):
    """A small OTLP/HTTP trace receiver: decodes every export with opentelemetry-proto."""

    def __init__(self) -> None:
        self.spans: list[tuple[str, str, str, int]] = []  # service, name, trace id, kind
        self.lock = threading.Lock()
        super().__init__(("127.0.0.1", 0), _Handler)

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def of_trace(self, trace_id: str) -> list[tuple[str, str, int]]:
        with self.lock:
            return [(svc, name, kind) for svc, name, tid, kind in self.spans if tid == trace_id]


class _Handler(BaseHTTPRequestHandler):
    server: Receiver

    def do_POST(self) -> None:  # noqa: N802 - http.server's naming
        body = self.rfile.read(int(self.headers["Content-Length"]))
        if self.headers.get("Content-Encoding") == "gzip":
            body = gzip.decompress(body)
        request = ExportTraceServiceRequest()
        if self.path == "/v1/traces":  # the processes push metrics to /v1/metrics as well
            request = ExportTraceServiceRequest.FromString(body)
        with self.server.lock:
            for resource_spans in request.resource_spans:
                service = next(
                    a.value.string_value
                    for a in resource_spans.resource.attributes
                    if a.key == "service.name"
                )
                for scope in resource_spans.scope_spans:
                    for span in scope.spans:
                        self.server.spans.append(
                            (service, span.name, span.trace_id.hex(), span.kind)
                        )
        reply = ExportTraceServiceResponse().SerializeToString()
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.send_header("Content-Length", str(len(reply)))
        self.end_headers()
        self.wfile.write(reply)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    server = Receiver()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


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
