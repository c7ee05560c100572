"""A bounded store of recent spans in Redis, per trace, for the dashboard's waterfall.

Every process (web, workers, relay) exports its finished spans here in batches; the
dashboard reads the spans of a flow by the trace IDs of its events. Each trace keeps at most
``MAX_SPANS_PER_TRACE`` spans and expires ``TTL_SECONDS`` after its last span.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from typing import Any

import redis
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

KEY = "eventhub:spans:{trace_id}"
MAX_SPANS_PER_TRACE = 500
TTL_SECONDS = 24 * 3600


def span_json(span: ReadableSpan) -> dict[str, Any]:
    ctx = span.get_span_context()
    parent = span.parent
    return {
        "traceId": format(ctx.trace_id, "032x"),
        "spanId": format(ctx.span_id, "016x"),
        "parentSpanId": format(parent.span_id, "016x") if parent else None,
        "name": span.name,
        "kind": span.kind.name,
        "service": span.resource.attributes.get("service.name", ""),
        "start": span.start_time,
        "end": span.end_time,
        "status": span.status.status_code.name,
        "attributes": {
            k: v
            for k, v in (span.attributes or {}).items()
            if isinstance(v, str | int | float | bool)
        },
        "links": [format(link.context.trace_id, "032x") for link in span.links],
    }


class RedisSpanStore(SpanExporter):
    def __init__(self, url: str) -> None:
        self.client = redis.Redis.from_url(url, socket_connect_timeout=1, socket_timeout=2)

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        try:
            pipe = self.client.pipeline(transaction=False)
            for span in spans:
                data = span_json(span)
                key = KEY.format(trace_id=data["traceId"])
                pipe.rpush(key, json.dumps(data))
                pipe.ltrim(key, -MAX_SPANS_PER_TRACE, -1)
                pipe.expire(key, TTL_SECONDS)
            pipe.execute()
        except redis.RedisError:
            return SpanExportResult.FAILURE
        return SpanExportResult.SUCCESS

    def shutdown(self) -> None:
        self.client.close()


def spans_of(trace_ids: Iterable[str], url: str) -> list[dict[str, Any]]:
    """The stored spans of these traces, ordered by start time."""
    client = redis.Redis.from_url(url, socket_connect_timeout=1, socket_timeout=2)
    pipe = client.pipeline(transaction=False)
    ids = [t for t in dict.fromkeys(trace_ids) if t]
    for trace_id in ids:
        pipe.lrange(KEY.format(trace_id=trace_id), 0, -1)
    spans = [json.loads(raw) for rows in pipe.execute() for raw in rows] if ids else []
    return sorted(spans, key=lambda s: s["start"])
