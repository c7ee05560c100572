"""OpenTelemetry spans around publishing and processing events (messaging conventions).

The trace context of the publish span is stored with the event, so that every delivery of it,
whenever and wherever it runs, continues (or links to) the original trace.
Spans of a delivery carry ``eventhub.delivery_id``, so the dashboard's waterfall can put them
under the delivery (and highlight them with its chip).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from opentelemetry import propagate, trace
from opentelemetry.trace import Link, SpanKind, Status, StatusCode

if TYPE_CHECKING:
    from .models import Delivery, Event

tracer = trace.get_tracer("eventhub")


def _hex_trace_id(span: trace.Span) -> str:
    ctx = span.get_span_context()
    return format(ctx.trace_id, "032x") if ctx.is_valid else ""


@dataclass
class PublishTrace:
    span: trace.Span
    trace_id: str = ""
    carrier: dict[str, str] = field(default_factory=dict)

    def describe(self, event: Event) -> None:
        self.span.set_attributes(
            {
                "messaging.message.id": str(event.event_id),
                "messaging.message.conversation_id": event.correlation_id,
                "eventhub.event_id": str(event.event_id),
                "eventhub.correlation_id": event.correlation_id,
                "eventhub.causation_id": str(event.causation_id or ""),
            }
        )


@contextlib.contextmanager
def publish_span(event_type: str) -> Iterator[PublishTrace]:
    with tracer.start_as_current_span(
        f"send {event_type}",
        kind=SpanKind.PRODUCER,
        attributes={
            "messaging.system": "eventhub",
            "messaging.operation.type": "send",
            "messaging.operation.name": "send",
            "messaging.destination.name": event_type,
        },
    ) as span:
        carrier: dict[str, str] = {}
        propagate.inject(carrier)
        yield PublishTrace(span=span, trace_id=_hex_trace_id(span), carrier=carrier)


@contextlib.contextmanager
def process_span(delivery: Delivery, *, link_only: bool = False) -> Iterator[trace.Span]:
    """The CONSUMER span of one attempt: a child of the publish span, or linked to it."""
    event = delivery.event
    parent = propagate.extract(event.trace_context or {})
    parent_ctx = trace.get_current_span(parent).get_span_context()
    links = [Link(parent_ctx)] if parent_ctx.is_valid else []
    attributes: dict[str, Any] = {
        "messaging.system": "eventhub",
        "messaging.operation.type": "process",
        "messaging.operation.name": "process",
        "messaging.destination.name": event.event_type,
        "messaging.consumer.group.name": delivery.subscriber,
        "messaging.message.id": str(event.event_id),
        "messaging.message.conversation_id": event.correlation_id,
        "eventhub.event_id": str(event.event_id),
        "eventhub.correlation_id": event.correlation_id,
        "eventhub.causation_id": str(event.causation_id or ""),
        "eventhub.handler": delivery.subscriber,
        "eventhub.attempt": delivery.attempts,
        "eventhub.delivery_id": delivery.pk,
    }
    with tracer.start_as_current_span(
        f"process {event.event_type}",
        context=None if link_only else parent,
        kind=SpanKind.CONSUMER,
        links=links,
        attributes=attributes,
        record_exception=False,
        set_status_on_exception=False,
    ) as span:
        yield span


def dispatch_span_wanted() -> bool:
    """Whether ``dispatch_span`` would record a span here: no span is current and a tracer
    provider is installed (``otel.configure``). Callers skip reading what it would describe
    otherwise (a request or a handler dispatching has a span current)."""
    if trace.get_current_span().get_span_context().is_valid:
        return False
    provider = trace.get_tracer_provider()
    return not isinstance(provider, trace.ProxyTracerProvider | trace.NoOpTracerProvider)


@contextlib.contextmanager
def dispatch_span(
    *,
    delivery_id: int,
    subscriber: str,
    attempt: int,
    event_type: str,
    trace_context: dict[str, str] | None,
) -> Iterator[None]:
    """Around the broker hand-off of a delivery sent while no span is current: the relay
    sending a due retry (or what a crash or an outage left behind).

    Without it Celery's enqueue span starts a trace nothing points to, and the worker's pick-up
    of a retry is lost to the flow. This span starts a new trace *linked* to the event's (a
    retry seconds or days later is not a child of the publish), which the span store indexes
    by that link. Sent from a request or a handler (a span current), nothing is added.
    """
    if trace.get_current_span().get_span_context().is_valid:
        yield
        return
    origin = trace.get_current_span(propagate.extract(trace_context or {})).get_span_context()
    with tracer.start_as_current_span(
        f"dispatch {event_type}",
        kind=SpanKind.INTERNAL,
        links=[Link(origin)] if origin.is_valid else [],
        attributes={
            "messaging.system": "eventhub",
            "messaging.destination.name": event_type,
            "messaging.consumer.group.name": subscriber,
            "eventhub.handler": subscriber,
            "eventhub.delivery_id": delivery_id,
            "eventhub.attempt": attempt,
        },
    ):
        yield


def record_failure(span: trace.Span, exc: BaseException) -> None:
    span.record_exception(exc)
    span.set_status(Status(StatusCode.ERROR, str(exc)[:500]))
