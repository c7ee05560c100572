"""OpenTelemetry meters of each process: its own instruments, read by a scrape or pushed.

Each process (web, worker, relay) gets a meter provider with an in-memory reader, which the
scrape endpoint of a web process reads (the HTTP server metrics of the Django and ASGI
instrumentation), and, when ``OTEL_EXPORTER_OTLP_ENDPOINT`` is set, a periodic OTLP push.
Every process pushes under its own ``service.instance.id`` (the SDK's ``Resource.create``
draws a UUID per pid, after a fork too), so a collector keeps each prefork pool process's
cumulative series apart and sums them correctly.
The database readings go over OTLP from one process only: see ``pushed``.
"""

from __future__ import annotations

import os

from django.conf import settings
from opentelemetry import metrics
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import (
    InMemoryMetricReader,
    MetricReader,
    PeriodicExportingMetricReader,
)
from opentelemetry.sdk.resources import Resource

from .exposition import from_opentelemetry
from .families import Family

_scrape_reader: InMemoryMetricReader | None = None


def enabled() -> bool:
    return bool(settings.EVENTHUB["METRICS"])


def otlp_configured() -> bool:
    return bool(
        os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT")
        or os.environ.get("OTEL_EXPORTER_OTLP_METRICS_ENDPOINT")
    )


def otlp_reader() -> MetricReader:
    # Only with an endpoint set: the exporter loads requests and protobuf (~0.2 s).
    from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter

    return PeriodicExportingMetricReader(OTLPMetricExporter())


def configure(resource: Resource) -> None:
    """Install this process's meter provider (before the instrumentations ask for meters).

    With ``EVENTHUB_METRICS=false`` none is installed: the instrumentations get no-op meters.
    """
    global _scrape_reader
    if not enabled():
        return
    _scrape_reader = InMemoryMetricReader()
    process_readers: list[MetricReader] = [_scrape_reader]
    if otlp_configured():
        process_readers.append(otlp_reader())
    metrics.set_meter_provider(MeterProvider(resource=resource, metric_readers=process_readers))


def process_families() -> list[Family]:
    """This process's own instruments (HTTP server metrics in a web process), cumulative."""
    if _scrape_reader is None:
        return []
    return from_opentelemetry(_scrape_reader.get_metrics_data())
