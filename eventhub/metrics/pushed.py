"""The database readings as OpenTelemetry observable instruments, pushed over OTLP.

The readings are the same from every process, so exactly one process pushes them: the relay
(``push_database_readings``, when ``OTEL_EXPORTER_OTLP_ENDPOINT`` is set). A second relay
would push them again, under its own ``service.instance.id``: aggregate them with max, not
sum. The latency histograms are computed by SQL into fixed buckets, which the OpenTelemetry
API cannot observe (it has no asynchronous histogram): they are on the scrape endpoint only.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable

from django.db import close_old_connections
from opentelemetry import metrics
from opentelemetry.metrics import CallbackOptions, Observation
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.resources import Resource

from . import readings
from .families import Family, Sample
from .meters import enabled, otlp_configured, otlp_reader

# The families that OpenTelemetry can observe (counters and gauges, not the histograms),
# under OpenTelemetry names: a collector's Prometheus exporter adds _total and the unit.
OBSERVED: tuple[tuple[Callable[[], Family], str, str, str], ...] = (
    (readings.events_published, "eventhub.events.published", "counter", ""),
    (readings.deliveries_by_outcome, "eventhub.deliveries", "counter", ""),
    (readings.attempts_by_outcome, "eventhub.attempts", "counter", ""),
    (readings.dead_letters, "eventhub.dead_letters", "gauge", ""),
    (readings.outbox_lag, "eventhub.outbox.lag", "gauge", "s"),
    (readings.deliveries_in_flight, "eventhub.deliveries.in_flight", "gauge", ""),
)


def _callback(read: Callable[[], Family]) -> Callable[[CallbackOptions], Iterable[Observation]]:
    def observe(_: CallbackOptions) -> Iterable[Observation]:
        try:
            samples: list[Sample] = read().samples  # type: ignore[assignment]
            return [Observation(s.value, dict(s.labels)) for s in samples]
        finally:
            close_old_connections()  # the exporter's thread holds no connection between runs

    return observe


def observe_database(provider: metrics.MeterProvider) -> None:
    """Register the database readings as observable instruments of ``provider``."""
    meter = provider.get_meter("eventhub.database")
    for read, name, kind, unit in OBSERVED:
        create = (
            meter.create_observable_counter if kind == "counter" else meter.create_observable_gauge
        )
        summary = (read.__doc__ or "").split("\n")[0]
        create(name, callbacks=[_callback(read)], unit=unit, description=summary)


def push_database_readings(service: str = "eventhub-relay") -> MeterProvider | None:
    """In the one process that should (the relay): push the readings over OTLP, if set."""
    if not (enabled() and otlp_configured()):
        return None
    resource = Resource.create({"service.name": os.environ.get("OTEL_SERVICE_NAME", service)})
    provider = MeterProvider(resource=resource, metric_readers=[otlp_reader()])
    observe_database(provider)
    return provider
