"""The layout of a flow's span waterfall: rows nested under events and deliveries, queue
waits apart from execution, long idle stretches compressed on a labelled time axis.

The page only draws what this returns (percentages and text), so the rules live here, in
one pure function tested with plain dicts (``tests/unit/test_waterfall_layout.py``).

Nesting is by parent span, with three corrections, because messaging spans do not nest the
way a reader follows a flow:

- every span of a delivery (``eventhub.delivery_id``: Celery's enqueue and run spans, the
  relay's re-dispatch, each attempt's process span) goes under one *delivery* row, itself
  under the publish span of its event; so attempts of one delivery stay together even when
  a retry ran in a trace of its own;
- an attempt's process span, a child of the publish span in the trace, goes under the
  worker's run span that contains it (the pick-up it is part of);
- spans of a linked trace (``linkedTo``, see ``span_store.spans_of``) are kept and marked;
  the first row of each is the one to flag "linked trace".
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

GAP_NS = 1_000_000_000
"""Idle stretches longer than this (1 s) are compressed: a retry 65 s later would otherwise
squeeze every bar of the flow into a tick (issue 15)."""
GAP_SHARE = 0.06
"""The width one compressed gap takes on the axis (6 %; less when there are many)."""
MAX_ROWS = 400
MAX_DEPTH = 24
TARGET_TICKS = 7


@dataclass
class _Node:
    key: str
    span: dict[str, Any] | None = None  # None: a delivery row
    delivery_id: int | None = None
    start: int = 0
    end: int = 0
    children: list[_Node] = field(default_factory=list)
    parent: _Node | None = None


def _attrs(span: dict[str, Any]) -> dict[str, Any]:
    attributes = span.get("attributes")
    return attributes if isinstance(attributes, dict) else {}


def _delivery_id(span: dict[str, Any]) -> int | None:
    value = _attrs(span).get("eventhub.delivery_id")
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _celery_action(span: dict[str, Any]) -> str:
    return str(_attrs(span).get("celery.action", ""))


def _is_process(span: dict[str, Any]) -> bool:
    return _attrs(span).get("messaging.operation.type") == "process"


def _is_publish(span: dict[str, Any]) -> bool:
    return _attrs(span).get("messaging.operation.type") == "send"


def _is_dispatch(span: dict[str, Any]) -> bool:
    return span.get("name", "").startswith("dispatch ") and _delivery_id(span) is not None


def _end(span: dict[str, Any]) -> int:
    return int(span.get("end") or span["start"])


def human_duration(ns: float) -> str:
    """``850 µs``, ``12.3 ms``, ``15.2 s``, ``1 m 5.1 s``, ``2 h 5 m``, ``3 d 4 h``."""
    if ns < 1_000_000:
        return f"{ns / 1000:.0f} µs"
    if ns < 1_000_000_000:
        ms = ns / 1e6
        return f"{ms:.1f} ms" if ms < 100 else f"{ms:.0f} ms"
    seconds = ns / 1e9
    if seconds < 60:
        return f"{seconds:.1f} s"
    if seconds < 3600:
        minutes, rest = divmod(seconds, 60)
        return f"{minutes:.0f} m {rest:.1f} s"
    if seconds < 86_400 - 30:
        minutes = round(seconds / 60)
        return f"{minutes // 60} h {minutes % 60} m"
    hours = round(seconds / 3600)
    return f"{hours // 24} d {hours % 24} h"


def _offset_label(ns: int, step: int) -> str:
    """A tick's offset from the flow's start, with as many digits as the step needs."""
    if ns == 0:
        return "0"
    if step < 1_000_000:
        return f"+{ns / 1e6:.{max(0, -int(math.floor(math.log10(step / 1e6))))}f} ms"
    if ns < 1_000_000_000 and step < 1_000_000_000:
        return f"+{ns / 1e6:.0f} ms"
    digits = max(0, -int(math.floor(math.log10(step / 1e9))))
    seconds = ns / 1e9
    if seconds >= 60:
        minutes, rest = divmod(seconds, 60)
        return f"+{minutes:.0f} m {rest:.{digits}f} s"
    return f"+{seconds:.{digits}f} s"


def _nice_step(span_ns: float) -> int:
    raw = max(span_ns / TARGET_TICKS, 1_000)
    power = 10 ** math.floor(math.log10(raw))
    for factor in (1, 2, 5, 10):
        if raw <= factor * power:
            return int(factor * power)
    return int(10 * power)


class _Axis:
    """Maps real time (ns since the flow's first span) to a percentage of the track, with
    every idle stretch longer than ``gap_ns`` shrunk to the same small width."""

    def __init__(self, intervals: list[tuple[int, int]], total: int, gap_ns: int) -> None:
        merged: list[list[int]] = []
        for start, end in sorted(intervals):
            if merged and start <= merged[-1][1]:
                merged[-1][1] = max(merged[-1][1], end)
            else:
                merged.append([start, end])
        self.gaps = [
            (a[1], b[0]) for a, b in zip(merged, merged[1:], strict=False) if b[0] - a[1] > gap_ns
        ]
        self.total = max(total, 1)
        idle = sum(end - start for start, end in self.gaps)
        self.busy = max(self.total - idle, 1)
        share = min(GAP_SHARE, 0.5 / len(self.gaps)) if self.gaps else 0.0
        self.gap_width = self.busy * share / (1 - share * len(self.gaps)) if self.gaps else 0.0
        self.display_total = self.busy + self.gap_width * len(self.gaps)

    def display(self, t: int) -> float:
        shrunk = 0.0
        for start, end in self.gaps:
            if t >= end:
                shrunk += (end - start) - self.gap_width
            elif t > start:
                shrunk += (t - start) * (1 - self.gap_width / (end - start))
                break
            else:
                break
        return t - shrunk

    def pct(self, t: int) -> float:
        return round(min(max(self.display(t) / self.display_total * 100, 0.0), 100.0), 3)

    def segments(self) -> list[tuple[int, int]]:
        """The busy stretches between the gaps."""
        edges = [0] + [x for gap in self.gaps for x in gap] + [self.total]
        return list(zip(edges[::2], edges[1::2], strict=True))

    def ticks(self) -> list[dict[str, Any]]:
        """Ticks at a round step through each busy stretch, and one where each resumes after
        a gap (replacing a tick too close before it); at least 8 % apart, room for a label."""
        step = _nice_step(self.busy)
        ticks: list[dict[str, Any]] = []

        def add(t: int, *, resumes: bool = False) -> None:
            left = self.pct(t)
            if ticks and left - ticks[-1]["left"] < 8:
                if not resumes:
                    return
                ticks.pop()
            ticks.append({"left": left, "label": _offset_label(t, step)})

        for index, (start, end) in enumerate(self.segments()):
            t = 0
            if index:
                add(start, resumes=True)
                t = (start // step + 1) * step
            while t <= end and len(ticks) < 40:
                add(t)
                t += step
        return ticks


def _tree(spans: list[dict[str, Any]]) -> list[_Node]:
    nodes = {s["spanId"]: _Node(key=s["spanId"], span=s) for s in spans}
    natural = {
        key: nodes.get(node.span.get("parentSpanId") or "")
        for key, node in nodes.items()
        if node.span
    }
    for node in nodes.values():
        node.start, node.end = node.span["start"], _end(node.span)  # type: ignore[index]
        node.delivery_id = _delivery_id(node.span)  # type: ignore[arg-type]
    # Celery's enqueue span has no delivery id of its own: it is that of the run it started.
    for key, parent in natural.items():
        child = nodes[key]
        if (
            parent is not None
            and parent.delivery_id is None
            and _celery_action(parent.span or {}) == "apply_async"
            and child.delivery_id is not None
        ):
            parent.delivery_id = child.delivery_id

    deliveries: dict[int, _Node] = {}
    publish_of_event: dict[str, _Node] = {}
    for node in nodes.values():
        if node.span and _is_publish(node.span) and node.span.get("kind") == "PRODUCER":
            event_id = _attrs(node.span).get("eventhub.event_id")
            if isinstance(event_id, str):
                publish_of_event.setdefault(event_id, node)
        if node.delivery_id is not None and node.delivery_id not in deliveries:
            deliveries[node.delivery_id] = _Node(key=f"delivery:{node.delivery_id}")
            deliveries[node.delivery_id].delivery_id = node.delivery_id
    runs: dict[int, list[_Node]] = {}
    for node in nodes.values():
        if node.delivery_id is not None and _celery_action(node.span or {}) == "run":
            runs.setdefault(node.delivery_id, []).append(node)

    def effective(node: _Node) -> _Node | None:
        span = node.span or {}
        parent = natural.get(node.key)
        if node.delivery_id is None:
            return parent
        if _is_process(span):
            for run in runs.get(node.delivery_id, []):
                if run.start <= node.start and node.end <= run.end:
                    return run
            return deliveries[node.delivery_id]
        if parent is not None and parent.delivery_id == node.delivery_id:
            return parent
        return deliveries[node.delivery_id]

    for node in nodes.values():
        parent = effective(node)
        # Never a cycle: walk up from the parent before attaching.
        seen, up = {node.key}, parent
        while up is not None and up.key not in seen:
            seen.add(up.key)
            up = up.parent
        if up is not None:
            parent = None
        node.parent = parent
    for node in nodes.values():
        if node.parent is not None:
            node.parent.children.append(node)

    for delivery_id, delivery in deliveries.items():
        members = [n for n in nodes.values() if n.delivery_id == delivery_id]
        delivery.start = min(n.start for n in members)
        delivery.end = max(n.end for n in members)
        event_ids = [
            _attrs(n.span).get("eventhub.event_id")
            for n in members
            if n.span and _is_process(n.span)
        ]
        home = next((publish_of_event[e] for e in event_ids if e in publish_of_event), None)
        if home is None:  # the event's publish span is not stored (expired, or still buffered)
            first = min(
                (n for n in members if n.parent is delivery), key=lambda n: n.start, default=None
            )
            home = natural.get(first.key) if first is not None else None
            if home is not None and home.delivery_id == delivery_id:
                home = None
        delivery.parent = home
        if home is not None:
            home.children.append(delivery)
    roots = [n for n in [*nodes.values(), *deliveries.values()] if n.parent is None]
    return sorted(roots, key=lambda n: (n.start, n.key))


def _label(node: _Node) -> tuple[str, str]:
    """A reader's name for the row, and its role."""
    span = node.span
    if span is None:
        return "", "delivery"
    attributes = _attrs(span)
    destination = str(attributes.get("messaging.destination.name", ""))
    if _is_publish(span):
        return f"publish {destination}", "event"
    if _is_process(span):
        # The subscriber is on the delivery row above it.
        return f"attempt {attributes.get('eventhub.attempt')}: handles {destination}", "attempt"
    if _is_dispatch(span):
        attempt = attributes.get("eventhub.attempt")
        what = f"retry (attempt {attempt})" if isinstance(attempt, int) and attempt > 1 else "it"
        return f"relay dispatches {what}", "dispatch"
    action = _celery_action(span)
    if action == "apply_async":
        return "enqueues it", "enqueue"  # shown after the service: "web enqueues it"
    if action == "run":
        return "picks it up", "pickup"
    if span.get("kind") == "SERVER":
        return str(span.get("name", "")), "http"
    return str(span.get("name", "")), "span"


def layout(spans: list[dict[str, Any]], *, gap_ns: int = GAP_NS) -> dict[str, Any]:
    """The waterfall of ``spans`` (as ``span_store.spans_of`` returns them)."""
    unique = list({s["spanId"]: s for s in spans if s.get("spanId")}.values())
    if not unique:
        return {"rows": [], "gaps": [], "ticks": [], "spanCount": 0, "totalNs": 0}
    origin = min(s["start"] for s in unique)
    finish = max(_end(s) for s in unique)
    axis = _Axis([(s["start"] - origin, _end(s) - origin) for s in unique], finish - origin, gap_ns)
    roots = _tree(unique)

    subscribers: dict[int, str] = {}
    statuses: dict[int, str] = {}
    attempts: dict[int, int] = {}
    retried: set[str] = set()  # trace ids of linked traces that carry a retry
    for s in sorted(unique, key=lambda s: s["start"]):
        delivery_id = _delivery_id(s)
        attributes = _attrs(s)
        if delivery_id is None:
            continue
        if isinstance(attributes.get("eventhub.handler"), str):
            subscribers[delivery_id] = attributes["eventhub.handler"]
        attempt = attributes.get("eventhub.attempt")
        if isinstance(attempt, int):
            attempts[delivery_id] = max(attempts.get(delivery_id, 0), attempt)
            if attempt > 1 and s.get("linkedTo"):
                retried.add(s["traceId"])
        if _is_process(s):
            statuses[delivery_id] = str(s.get("status", "UNSET"))

    rows: list[dict[str, Any]] = []
    truncated = False

    def visit(node: _Node, depth: int, linked_above: bool) -> None:
        nonlocal truncated
        if len(rows) >= MAX_ROWS:
            truncated = True
            return
        span = node.span
        label, role = _label(node)
        start, end = node.start - origin, node.end - origin
        row: dict[str, Any] = {
            "key": node.key,
            "role": role,
            "depth": min(depth, MAX_DEPTH),
            "startNs": start,
            "durationNs": end - start,
            "duration": human_duration(end - start),
            "left": axis.pct(start),
            "width": round(max(axis.pct(end) - axis.pct(start), 0.0), 3),
            "deliveryId": node.delivery_id,
            "wait": None,
        }
        linked = False
        if span is None:
            delivery_id = node.delivery_id or 0
            subscriber = subscribers.get(delivery_id, "")
            tries = attempts.get(delivery_id, 0)
            row.update(
                label=f"delivery to {subscriber or f'#{delivery_id}'}"
                + (f", {tries} attempts" if tries > 1 else ""),
                name="",
                service="",
                kind="DELIVERY",
                status=statuses.get(delivery_id, "UNSET"),
                subscriber=subscriber,
            )
        else:
            attributes = _attrs(span)
            linked = bool(span.get("linkedTo"))
            row.update(
                label=label,
                name=span.get("name", ""),
                service=span.get("service", ""),
                kind=span.get("kind", ""),
                status=span.get("status", "UNSET"),
                traceId=span.get("traceId", ""),
                spanId=span.get("spanId", ""),
                eventId=attributes.get("eventhub.event_id"),
                attempt=attributes.get("eventhub.attempt"),
            )
            if linked:
                row["linkedTo"] = span["linkedTo"]
            wait_from = _wait_start(node)
            if wait_from is not None and wait_from < node.start:
                w0 = wait_from - origin
                row["wait"] = {
                    "left": axis.pct(w0),
                    "width": round(axis.pct(start) - axis.pct(w0), 3),
                    "ns": node.start - wait_from,
                    "label": f"queued {human_duration(node.start - wait_from)}",
                }
        row["linked"] = linked
        row["linkStart"] = linked and not linked_above
        if row["linkStart"]:
            row["linkLabel"] = (
                "linked retry trace" if span and span["traceId"] in retried else "linked trace"
            )
        rows.append(row)
        for child in sorted(node.children, key=lambda n: (n.start, n.key)):
            visit(child, depth + 1, linked if span is not None else linked_above)

    for root in roots:
        visit(root, 0, False)

    real_rows = sorted((r for r in rows if r["kind"] != "DELIVERY"), key=lambda r: r["startNs"])
    gaps = []
    for start, end in axis.gaps:
        after = next((r for r in real_rows if r["startNs"] >= end), None)
        reason = "idle"
        if after is not None:
            ran_before = after["deliveryId"] is not None and any(
                r["deliveryId"] == after["deliveryId"] and r["startNs"] < start for r in real_rows
            )
            attempt = after.get("attempt")
            if ran_before or (isinstance(attempt, int) and attempt > 1):
                reason = "retry"
            elif after["kind"] == "CONSUMER":
                reason = "queue"
        words = {"retry": "for retry", "queue": "in queue", "idle": "idle"}[reason]
        text = human_duration(end - start)
        gaps.append(
            {
                "left": axis.pct(start),
                "width": round(axis.pct(end) - axis.pct(start), 3),
                "ns": end - start,
                "reason": reason,
                "label": f"idle {text}" if reason == "idle" else f"waited {text} {words}",
            }
        )
    return {
        "rows": rows,
        "gaps": gaps,
        "ticks": axis.ticks(),
        "spanCount": len(unique),
        "totalNs": finish - origin,
        "total": human_duration(finish - origin),
        "busy": human_duration(axis.busy),
        "truncated": truncated,
    }


def _wait_start(node: _Node) -> int | None:
    """When this consumer's message was ready: the end of the span that sent it.

    Celery's run span: its enqueue span (the parent). An attempt's process span with no
    run span stored: the publish span, for a first attempt only (a later one waited for its
    retry, which the axis shows as a gap).
    """
    span = node.span or {}
    if span.get("kind") != "CONSUMER":
        return None
    parent = node.parent
    if _celery_action(span) == "run" and parent is not None and parent.span:
        return parent.end if parent.span.get("kind") == "PRODUCER" else None
    if _is_process(span) and _attrs(span).get("eventhub.attempt") == 1:
        home = parent.parent if parent is not None and parent.span is None else parent
        if home is not None and home.span and _is_publish(home.span):
            return home.end
    return None
