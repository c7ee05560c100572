"""A bounded store of recent spans in Redis, per trace, for the dashboard's waterfall.

Every process (web, workers, relay) exports its finished spans here in batches; the
dashboard reads the spans of a flow by the trace IDs of its events. Each trace keeps at most
``MAX_SPANS_PER_TRACE`` spans and expires ``TTL_SECONDS`` after its last span.

A span with links (a retried dead letter's process span, the relay's re-dispatch of a due
retry) starts a trace of its own. So that the flow can still find it, the store keeps, per
linked-to trace, the set of traces that link to it (``LINKS_KEY``, same TTL).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from typing import Any

import redis
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

KEY = "eventhub:spans:{trace_id}"
LINKS_KEY = "eventhub:span-links:{trace_id}"
MAX_SPANS_PER_TRACE = 500
MAX_LINKED_TRACES = 100  # per flow: a flow retried more often than this shows the first 100
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
                for linked in set(data["links"]) - {data["traceId"]}:
                    links_key = LINKS_KEY.format(trace_id=linked)
                    pipe.sadd(links_key, data["traceId"])
                    pipe.expire(links_key, TTL_SECONDS)
            pipe.execute()
        except redis.RedisError:
            return SpanExportResult.FAILURE
        return SpanExportResult.SUCCESS

    def shutdown(self) -> None:
        self.client.close()


def spans_of(trace_ids: Iterable[str], url: str) -> list[dict[str, Any]]:
    """The stored spans of these traces and of the traces linked to them, by start time.

    A span of a linked trace carries ``linkedTo``: the trace (of ``trace_ids``, or linked to
    one of them) that its trace links to. Links are followed two levels deep (a retry of a
    retry), at most ``MAX_LINKED_TRACES`` traces in all.
    """
    client = redis.Redis.from_url(url, socket_connect_timeout=1, socket_timeout=2)
    ids = [t for t in dict.fromkeys(trace_ids) if t]
    linked_to: dict[str, str] = {}
    frontier = ids
    for _ in range(2):
        if not frontier:
            break
        pipe = client.pipeline(transaction=False)
        for trace_id in frontier:
            pipe.smembers(LINKS_KEY.format(trace_id=trace_id))
        found: list[str] = []
        for origin, members in zip(frontier, pipe.execute(), strict=True):
            for raw in sorted(members):
                linked = raw.decode() if isinstance(raw, bytes) else str(raw)
                if linked in linked_to or linked in ids:
                    continue
                if len(linked_to) >= MAX_LINKED_TRACES:
                    break
                linked_to[linked] = origin
                found.append(linked)
        frontier = found
    every = ids + list(linked_to)
    if not every:
        return []
    pipe = client.pipeline(transaction=False)
    for trace_id in every:
        pipe.lrange(KEY.format(trace_id=trace_id), 0, -1)
    spans = []
    for trace_id, rows in zip(every, pipe.execute(), strict=True):
        for raw in rows:
            span = json.loads(raw)
            if trace_id in linked_to:
                span["linkedTo"] = linked_to[trace_id]
            spans.append(span)
    return sorted(spans, key=lambda s: s["start"])
