"""The waterfall's layout (issue 15.1): nesting under events and deliveries, queue wait apart
from execution, long idle stretches compressed and labelled, linked retry traces marked.

The spans are shaped as ``span_store.span_json`` stores them, for one order whose mail
failed once and succeeded on a retry the relay dispatched 15.2 s later.
"""

from __future__ import annotations

from typing import Any

import pytest
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.trace import Link, SpanKind

from eventhub.dashboard.waterfall import human_duration, layout
from eventhub.span_store import RedisSpanStore, spans_of

MS = 1_000_000
T0 = 1_700_000_000_000 * MS
TRACE = "a" * 32
RETRY_TRACE = "b" * 32
EVENT = "11111111-1111-1111-1111-111111111111"
DELIVERY = 7
HANDLER = "notifications.order_confirmation"


def span(
    span_id: str,
    name: str,
    start_ms: float,
    end_ms: float,
    *,
    parent: str | None = None,
    kind: str = "INTERNAL",
    trace: str = TRACE,
    status: str = "UNSET",
    service: str = "eventhub-web",
    linked_to: str | None = None,
    **attributes: Any,
) -> dict[str, Any]:
    data = {
        "traceId": trace,
        "spanId": span_id,
        "parentSpanId": parent,
        "name": name,
        "kind": kind,
        "service": service,
        "start": T0 + int(start_ms * MS),
        "end": T0 + int(end_ms * MS),
        "status": status,
        "attributes": {k.replace("__", "."): v for k, v in attributes.items()},
        "links": [],
    }
    if linked_to:
        data["linkedTo"] = linked_to
        data["links"] = [linked_to]
    return data


def process(span_id: str, start_ms: float, end_ms: float, attempt: int, **extra: Any):
    attributes = {
        "messaging.operation.type": "process",
        "messaging.destination.name": "order.created",
        "eventhub.event_id": EVENT,
        "eventhub.handler": HANDLER,
        "eventhub.attempt": attempt,
        "eventhub.delivery_id": DELIVERY,
    }
    return span(
        span_id, "process order.created", start_ms, end_ms, parent="publish", kind="CONSUMER",
        service="eventhub-worker", **{k.replace(".", "__"): v for k, v in attributes.items()},
        **extra,
    )  # fmt: skip


def celery(span_id: str, action: str, start_ms: float, end_ms: float, parent: str, **extra: Any):
    kind = "PRODUCER" if action == "apply_async" else "CONSUMER"
    attributes: dict[str, Any] = {"celery__action": action}
    if action == "run":
        attributes["eventhub__delivery_id"] = DELIVERY
    return span(
        span_id, f"{action}/eventhub.deliver", start_ms, end_ms, parent=parent, kind=kind,
        **attributes, **extra,
    )  # fmt: skip


RETRY_AT = 15_200.0  # ms: the relay dispatches the retry


def retried_flow() -> list[dict[str, Any]]:
    return [
        span("http", "POST orders", 0, 12, kind="SERVER"),
        span(
            "publish",
            "send order.created",
            2,
            3,
            parent="http",
            kind="PRODUCER",
            messaging__operation__type="send",
            messaging__destination__name="order.created",
            eventhub__event_id=EVENT,
        ),  # fmt: skip
        celery("enqueue1", "apply_async", 5, 6, "http"),
        celery("run1", "run", 9, 20, "enqueue1", service="eventhub-worker"),
        process("attempt1", 10, 19, 1, status="ERROR"),
        span(
            "dispatch2",
            "dispatch order.created",
            RETRY_AT,
            RETRY_AT + 1,
            trace=RETRY_TRACE,
            linked_to=TRACE,
            service="eventhub-relay",
            eventhub__delivery_id=DELIVERY,
            eventhub__attempt=2,
            eventhub__handler=HANDLER,
        ),  # fmt: skip
        celery(
            "enqueue2",
            "apply_async",
            RETRY_AT + 0.2,
            RETRY_AT + 0.8,
            "dispatch2",
            trace=RETRY_TRACE,
            linked_to=TRACE,
        ),  # fmt: skip
        celery(
            "run2",
            "run",
            RETRY_AT + 4,
            RETRY_AT + 11,
            "enqueue2",
            trace=RETRY_TRACE,
            linked_to=TRACE,
            service="eventhub-worker",
        ),  # fmt: skip
        process("attempt2", RETRY_AT + 5, RETRY_AT + 10, 2, status="OK"),
    ]


def rows_by_key(result: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {row["key"]: row for row in result["rows"]}


def test_spans_nest_by_parent_under_their_event_and_delivery():
    result = layout(retried_flow())
    outline = [(row["key"], row["depth"]) for row in result["rows"]]
    assert outline == [
        ("http", 0),
        ("publish", 1),
        (f"delivery:{DELIVERY}", 2),
        ("enqueue1", 3),
        ("run1", 4),
        ("attempt1", 5),  # under the worker's pick-up that ran it, not beside it
        ("dispatch2", 3),  # the retry, from a trace of its own, under the same delivery
        ("enqueue2", 4),
        ("run2", 5),
        ("attempt2", 6),
    ]
    rows = rows_by_key(result)
    assert rows[f"delivery:{DELIVERY}"]["label"] == f"delivery to {HANDLER}, 2 attempts"
    assert rows[f"delivery:{DELIVERY}"]["status"] == "OK"  # the outcome: the last attempt
    assert rows["publish"]["label"] == "publish order.created"
    assert rows["attempt2"]["label"] == "attempt 2: handles order.created"
    assert (rows["run1"]["service"], rows["run1"]["label"]) == ("eventhub-worker", "picks it up")
    assert rows["enqueue1"]["label"] == "enqueues it"
    assert rows["dispatch2"]["label"] == "relay dispatches retry (attempt 2)"
    assert {rows[k]["deliveryId"] for k in ("enqueue1", "run1", "attempt1", "dispatch2")} == {
        DELIVERY
    }
    assert rows["publish"]["deliveryId"] is None
    assert result["spanCount"] == 9


def test_the_queue_wait_is_drawn_apart_from_the_execution():
    rows = rows_by_key(layout(retried_flow()))
    pickup = rows["run1"]
    assert pickup["wait"]["ns"] == 3 * MS  # the enqueue ended at 6 ms, the worker began at 9
    assert pickup["wait"]["label"] == "queued 3.0 ms"
    assert pickup["durationNs"] == 11 * MS  # execution only
    wait_ends = pickup["wait"]["left"] + pickup["wait"]["width"]
    assert wait_ends == pytest.approx(pickup["left"], abs=0.01)
    assert pickup["wait"]["width"] > 0
    # Without a run span stored, a first attempt's wait runs from the publish span's end.
    alone = [s for s in retried_flow() if s["spanId"] not in {"run1", "enqueue1"}]
    first = rows_by_key(layout(alone))["attempt1"]
    assert first["wait"]["ns"] == 7 * MS
    # A second attempt's wait is the retry's backoff, shown as a gap, not as queueing.
    assert rows["attempt2"]["wait"] is None


def test_a_long_idle_stretch_is_compressed_and_labelled_with_the_time_waited():
    result = layout(retried_flow())
    [gap] = result["gaps"]
    assert gap["ns"] == (RETRY_AT - 20) * MS
    assert gap["reason"] == "retry"
    assert gap["label"] == "waited 15.2 s for retry"
    assert 0 < gap["width"] <= 6.0
    rows = rows_by_key(result)
    # Uncompressed, the first attempt (9 ms of 15.2 s) would be a 0.06 % tick.
    assert rows["attempt1"]["width"] > 20
    assert rows["attempt1"]["left"] < gap["left"] < rows["dispatch2"]["left"]
    assert rows["dispatch2"]["left"] == pytest.approx(gap["left"] + gap["width"], abs=0.01)
    assert rows["http"]["left"] == 0
    assert rows["attempt2"]["left"] + rows["attempt2"]["width"] <= 100
    labels = [tick["label"] for tick in result["ticks"]]
    assert labels[0] == "0"
    assert "+15.200 s" in labels  # after the gap the axis goes on at the real offset
    lefts = [tick["left"] for tick in result["ticks"]]
    assert all(b - a >= 8 for a, b in zip(lefts, lefts[1:], strict=False)), lefts
    # Without the relay's span (tracing off there) the gap is still known for a retry: the
    # delivery that resumes after it ran before it.
    no_relay = [s for s in retried_flow() if s["spanId"] not in {"dispatch2", "enqueue2"}]
    [gap] = layout(no_relay)["gaps"]
    assert gap["label"] == "waited 15.2 s for retry"


def test_gaps_under_the_threshold_are_drawn_to_scale():
    result = layout(retried_flow(), gap_ns=20 * 1_000_000_000)
    assert result["gaps"] == []
    assert rows_by_key(result)["attempt1"]["width"] < 0.1


def test_the_linked_retry_trace_is_included_and_marked():
    rows = rows_by_key(layout(retried_flow()))
    assert rows["dispatch2"]["linked"] is True
    assert rows["dispatch2"]["linkStart"] is True
    assert rows["dispatch2"]["linkLabel"] == "linked retry trace"
    assert rows["dispatch2"]["linkedTo"] == TRACE
    assert rows["enqueue2"]["linked"] is True and rows["enqueue2"]["linkStart"] is False
    assert rows["attempt2"]["linked"] is False  # the attempt itself is in the flow's trace
    assert not any(rows[k]["linked"] for k in ("http", "publish", "run1", "attempt1"))


def test_spans_with_unknown_parents_and_cycles_still_get_a_row():
    spans = [
        span("x", "a", 0, 1, parent="y"),
        span("y", "b", 0, 1, parent="x"),
        span("z", "c", 1, 2, parent="gone"),
    ]
    result = layout(spans)
    assert sorted(row["key"] for row in result["rows"]) == ["x", "y", "z"]
    assert layout([]) == {"rows": [], "gaps": [], "ticks": [], "spanCount": 0, "totalNs": 0}


def test_durations_read_as_a_person_would_say_them():
    assert human_duration(850_000) == "850 µs"
    assert human_duration(12_340_000) == "12.3 ms"
    assert human_duration(15_240_000_000) == "15.2 s"
    assert human_duration(65_100_000_000) == "1 m 5.1 s"
    assert human_duration(7_500 * 1_000_000_000) == "2 h 5 m"
    assert human_duration((3 * 86400 + 4 * 3600 + 59) * 1_000_000_000) == "3 d 4 h"


def test_a_dead_letter_retried_by_an_operator_days_later_joins_its_delivery_marked():
    """The operator's retry: the relay's dispatch starts a linked trace, and the attempt's
    process span is a child of the worker's run span in it (not of the days-old publish)."""
    later = 2 * 86_400_000.0  # ms
    spans = [
        *[s for s in retried_flow() if s["traceId"] == TRACE and s["spanId"] != "attempt2"],
        span(
            "dispatch6",
            "dispatch order.created",
            later,
            later + 1,
            trace=RETRY_TRACE,
            linked_to=TRACE,
            service="eventhub-relay",
            eventhub__delivery_id=DELIVERY,
            eventhub__attempt=6,
            eventhub__handler=HANDLER,
        ),  # fmt: skip
        celery(
            "enqueue6",
            "apply_async",
            later + 0.2,
            later + 0.8,
            "dispatch6",
            trace=RETRY_TRACE,
            linked_to=TRACE,
        ),  # fmt: skip
        celery(
            "run6",
            "run",
            later + 2,
            later + 9,
            "enqueue6",
            trace=RETRY_TRACE,
            linked_to=TRACE,
        ),  # fmt: skip
        {
            **process("attempt6", later + 3, later + 8, 6, status="OK"),
            "traceId": RETRY_TRACE,
            "parentSpanId": "run6",
            "linkedTo": TRACE,
            "links": [TRACE],
        },  # fmt: skip
    ]
    result = layout(spans)
    rows = rows_by_key(result)
    outline = [(row["key"], row["depth"]) for row in result["rows"]][2:]
    assert outline == [
        (f"delivery:{DELIVERY}", 2),
        ("enqueue1", 3),
        ("run1", 4),
        ("attempt1", 5),
        ("dispatch6", 3),
        ("enqueue6", 4),
        ("run6", 5),
        ("attempt6", 6),
    ]
    assert rows["dispatch6"]["linkLabel"] == "linked retry trace"
    assert rows["attempt6"]["linked"] is True and rows["attempt6"]["linkStart"] is False
    assert rows[f"delivery:{DELIVERY}"]["label"] == f"delivery to {HANDLER}, 6 attempts"
    [gap] = result["gaps"]
    assert gap["label"] == "waited 2 d 0 h for retry"


def test_the_span_store_finds_the_traces_linked_to_a_flows_trace(redis_server):
    redis_server.flush()
    provider = TracerProvider(resource=Resource.create({"service.name": "eventhub-test"}))
    provider.add_span_processor(SimpleSpanProcessor(RedisSpanStore(redis_server.url)))
    tracer = provider.get_tracer("test")
    with tracer.start_as_current_span("send order.created", kind=SpanKind.PRODUCER) as publish:
        original = format(publish.get_span_context().trace_id, "032x")
    with tracer.start_as_current_span(
        "dispatch order.created", context=None, links=[Link(publish.get_span_context())]
    ) as retry:
        retried = format(retry.get_span_context().trace_id, "032x")
        with tracer.start_as_current_span("apply_async/eventhub.deliver"):
            pass
    with tracer.start_as_current_span("unrelated"):
        pass
    assert retried != original

    found = spans_of([original], redis_server.url)
    assert [(s["name"], s["traceId"], s.get("linkedTo")) for s in found] == [
        ("send order.created", original, None),
        ("dispatch order.created", retried, original),
        ("apply_async/eventhub.deliver", retried, original),
    ]
    assert spans_of([], redis_server.url) == []
