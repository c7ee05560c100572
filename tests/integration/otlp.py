"""A small OTLP/HTTP receiver for the export tests: decodes every push with opentelemetry-proto.

Spans from ``/v1/traces`` (service, name, trace id, kind) and metric points from
``/v1/metrics`` (service, metric, attributes, value): the processes under test push both
to the one ``OTEL_EXPORTER_OTLP_ENDPOINT``.
"""

from __future__ import annotations

import gzip
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
    ExportMetricsServiceResponse,
)
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)


class OtlpReceiver(ThreadingHTTPServer):
    def __init__(self) -> None:
        self.spans: list[tuple[str, str, str, int]] = []  # service, name, trace id, kind
        self.points: list[tuple[str, str, dict[str, str], float]] = []
        self.instances: set[tuple[str, str]] = set()  # (service, service.instance.id)
        self.lock = threading.Lock()
        super().__init__(("127.0.0.1", 0), _Handler)

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def of_trace(self, trace_id: str) -> list[tuple[str, str, int]]:
        with self.lock:
            return [(svc, name, kind) for svc, name, tid, kind in self.spans if tid == trace_id]

    def of(self, service: str, metric: str) -> list[tuple[dict[str, str], float]]:
        with self.lock:
            return [(a, v) for s, m, a, v in self.points if (s, m) == (service, metric)]

    def take_traces(self, body: bytes) -> bytes:
        request = ExportTraceServiceRequest.FromString(body)
        with self.lock:
            for resource_spans in request.resource_spans:
                service = next(
                    a.value.string_value
                    for a in resource_spans.resource.attributes
                    if a.key == "service.name"
                )
                for scope in resource_spans.scope_spans:
                    for span in scope.spans:
                        self.spans.append((service, span.name, span.trace_id.hex(), span.kind))
        return ExportTraceServiceResponse().SerializeToString()

    def take_metrics(self, body: bytes) -> bytes:
        request = ExportMetricsServiceRequest.FromString(body)
        for resource in request.resource_metrics:
            names = {a.key: a.value.string_value for a in resource.resource.attributes}
            service = names["service.name"]
            with self.lock:
                self.instances.add((service, names.get("service.instance.id", "")))
            for scope in resource.scope_metrics:
                for metric in scope.metrics:
                    kind = metric.WhichOneof("data")
                    if kind not in ("sum", "gauge"):
                        continue
                    for point in getattr(metric, kind).data_points:
                        value: Any = getattr(point, point.WhichOneof("value"))
                        attributes = {a.key: a.value.string_value for a in point.attributes}
                        with self.lock:
                            self.points.append((service, metric.name, attributes, value))
        return ExportMetricsServiceResponse().SerializeToString()


class _Handler(BaseHTTPRequestHandler):
    server: OtlpReceiver

    def do_POST(self) -> None:  # noqa: N802 - http.server's naming
        body = self.rfile.read(int(self.headers["Content-Length"]))
        if self.headers.get("Content-Encoding") == "gzip":
            body = gzip.decompress(body)
        if self.path == "/v1/traces":
            reply = self.server.take_traces(body)
        elif self.path == "/v1/metrics":
            reply = self.server.take_metrics(body)
        else:
            reply = b""
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.send_header("Content-Length", str(len(reply)))
        self.end_headers()
        self.wfile.write(reply)

    def log_message(self, *args: object) -> None:
        pass


@contextmanager
def otlp_receiver() -> Iterator[OtlpReceiver]:
    """A receiver serving on a free port in a thread, shut down on the way out."""
    server = OtlpReceiver()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
