"""Setting up OpenTelemetry in each process: web (daphne), worker processes, the relay.

Off with ``OTEL_SDK_DISABLED=true``. Finished spans go to the bounded Redis span store (for
the dashboard) and, when ``OTEL_EXPORTER_OTLP_ENDPOINT`` is set, over OTLP/HTTP.
Django and Celery are instrumented with the contrib instrumentations.
"""

from __future__ import annotations

import os

from django.conf import settings
from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor

from .metrics import meters
from .span_store import RedisSpanStore

_configured = False


def enabled() -> bool:
    return os.environ.get("OTEL_SDK_DISABLED", "").strip().lower() not in {"true", "1", "yes"}


def configure(service: str) -> None:
    """Install a tracer provider for this process (once) and instrument Django and Celery."""
    global _configured
    if _configured or not enabled():
        return
    _configured = True
    resource = Resource.create({"service.name": os.environ.get("OTEL_SERVICE_NAME", service)})
    provider = TracerProvider(resource=resource)
    provider.add_span_processor(BatchSpanProcessor(RedisSpanStore(settings.REDIS_URL)))
    if os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT") or os.environ.get(
        "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"
    ):
        # Only with an endpoint set: the exporter loads requests and protobuf (~0.2 s).
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    trace.set_tracer_provider(provider)
    meters.configure(resource)
    instrument()


def instrument() -> None:
    """Instrument Django (HTTP server spans) and Celery (task publish and run spans).

    The instrumentations are imported here, in the processes that trace: they take ~0.6 s.
    """
    from opentelemetry.instrumentation.celery import CeleryInstrumentor
    from opentelemetry.instrumentation.django import DjangoInstrumentor

    if not DjangoInstrumentor().is_instrumented_by_opentelemetry:
        DjangoInstrumentor().instrument()
    if not CeleryInstrumentor().is_instrumented_by_opentelemetry:
        CeleryInstrumentor().instrument()


def flush() -> None:
    provider = trace.get_tracer_provider()
    force_flush = getattr(provider, "force_flush", None)
    if force_flush:
        force_flush()
