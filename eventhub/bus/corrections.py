"""Edit & retry: a dead letter replaced by a corrected copy of its event, for its subscriber.

The event log stays append-only. The correction is a new event (new event ID, same
correlation, causation = the original event, ``correction`` naming what it corrects and who)
with one delivery, to the dead-lettered subscriber only. The original delivery goes from
dead to ``resolved`` (linked to the correction) in one conditional UPDATE guarded by the
version the operator's editor was opened at, so a dead letter retried or discarded
meanwhile refuses the edit and nothing is written.
"""

from __future__ import annotations

import difflib
import json
import time
from datetime import datetime
from functools import partial
from typing import Any

from django.db import transaction
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from .. import live
from ..models import Delivery, Event
from . import dispatch, subscribers
from .declarations import spec_for
from .errors import EventValidationError
from .outbox import next_sequence
from .reasons import reason_checked
from .schema import camel, from_wire


class CorrectionRefused(ValueError):
    """The edit is not valid (bad JSON, schema, reason); the message starts with the field."""


class DeadLetterChanged(Exception):
    """The dead letter was retried, discarded or failed again since the editor opened."""


def dead_letter_version(delivery: Delivery) -> str:
    """What the editor carries back to prove it saw the dead letter as it still is."""
    return delivery.updated_at.isoformat()


def correction_base(event: Event) -> dict[str, Any]:
    """The original payload as the editor starts from it: upcast to the current version."""
    return spec_for(event.event_type).upcast(event.version, event.data)


def pretty(data: Any) -> str:
    return json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False)


def payload_diff(before: Any, after: Any) -> str:
    """A unified diff of the two payloads as pretty JSON (empty when equal)."""
    return "\n".join(
        difflib.unified_diff(
            pretty(before).splitlines(),
            pretty(after).splitlines(),
            fromfile="original",
            tofile="correction",
            lineterm="",
        )
    )


def payload_parse(text: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise CorrectionRefused(
            f"data: not valid JSON ({exc.msg} at line {exc.lineno} column {exc.colno})"
        ) from exc


def correction_check(event: Event, data: Any) -> None:
    """The edited payload must match the schema of the event's type at its current version,
    and keep the aggregate it belongs to."""
    spec = spec_for(event.event_type)
    try:
        payload = from_wire(spec.payload, data)
    except EventValidationError as exc:
        raise CorrectionRefused(str(exc)) from exc
    if payload.aggregate_id() != event.aggregate_id:
        raise CorrectionRefused(
            f"data.{camel(spec.aggregate_key)}: a correction must keep the "
            f"{spec.aggregate} it belongs to ({event.aggregate_id})"
        )


def _parse_version(version: str) -> datetime:
    try:
        moment = parse_datetime(version or "")
    except ValueError:  # well formed, not a time (month 99): was a 500
        moment = None
    if moment is None:
        raise CorrectionRefused("version: missing or not a time; reopen the editor")
    return moment


def dead_letter_correct(
    *, delivery_id: int, data: Any, version: str, by: str, reason: str
) -> tuple[Delivery, Event, str]:
    """Replace dead letter ``delivery_id`` by a correction of its event carrying ``data``.

    Returns the (now resolved) original delivery, the correction event and the diff.
    Raises CorrectionRefused (400) or DeadLetterChanged (409); either way nothing is written.
    """
    reason = reason.strip()
    if not reason:
        raise CorrectionRefused("reason: a reason is required to edit and retry a dead letter")
    reason_checked(reason, CorrectionRefused)
    seen_at = _parse_version(version)
    original = Delivery.objects.select_related("event").filter(pk=delivery_id).first()
    if original is None:
        raise CorrectionRefused(f"id: no delivery {delivery_id}")
    if original.status != Delivery.Status.DEAD or original.updated_at != seen_at:
        raise DeadLetterChanged(
            f"delivery {delivery_id} changed since the editor opened it "
            f"(it is {original.status} now): nothing was written; reopen it to see it as it is"
        )
    sub = subscribers.get(original.subscriber)
    if sub is None:
        raise CorrectionRefused(f"subscriber: {original.subscriber} is no longer registered")
    event = original.event
    correction_check(event, data)
    diff = payload_diff(correction_base(event), data)
    if not diff:
        raise CorrectionRefused("data: unchanged; use Retry to send the same event again")
    spec = spec_for(event.event_type)
    now = timezone.now()
    with transaction.atomic():
        fixed = Event.objects.create(
            event_type=event.event_type,
            version=spec.version,
            source=event.source,
            aggregate_type=event.aggregate_type,
            aggregate_id=event.aggregate_id,
            sequence=next_sequence(event.aggregate_type, event.aggregate_id),
            timestamp=int(time.time() * 1000),
            data=data,
            correlation_id=event.correlation_id,
            causation_id=event.event_id,
            trace_id=event.trace_id,
            trace_context=event.trace_context,
            correction={
                "corrects": str(event.event_id),
                "deliveryId": original.pk,
                "subscriber": original.subscriber,
                "by": by,
                "reason": reason[:2000],
            },
        )
        resolved = Delivery.objects.filter(
            pk=original.pk, status=Delivery.Status.DEAD, updated_at=seen_at
        ).update(status=Delivery.Status.RESOLVED, resolved_by=fixed, updated_at=now)
        if not resolved:  # retried or discarded since the read above: the event rolls back
            raise DeadLetterChanged(
                f"delivery {delivery_id} changed while the correction was being written: "
                "nothing was written; reopen it to see it as it is"
            )
        delivery = Delivery.objects.create(
            event=fixed,
            subscriber=sub.name,
            queue=sub.queue,
            guarantee=sub.guarantee.value,
            max_attempts=sub.max_attempts,
            next_attempt_at=now,
        )
        live.event_recorded()
        live.delivery_changed()
        transaction.on_commit(partial(dispatch.dispatch, [delivery.pk]), robust=True)
    original.refresh_from_db()
    return original, fixed, diff
