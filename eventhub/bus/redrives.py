"""Redriving one subscriber over a time window of recorded events.

``dead``: the subscriber's dead letters whose events were recorded in the window, requeued
as a retry batch (same delivery, same event ID: idempotency holds, as for any retry).
``all``: every event of the window the subscriber receives, sent again as a new delivery
generation (``replays``); only for a replayable subscriber. Either way it runs as a
``RetryBatch`` at its rate, with live progress, cancel and audit.

The window is ``[since, until)`` on ``Event.recorded_at``, the time the event log wrote it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime

from django.contrib.admin.models import ADDITION, LogEntry
from django.db import transaction
from django.utils import timezone

from ..models import Delivery, Event, RetryBatch
from . import subscribers
from .reasons import reason_checked
from .replays import (
    UNREAD,
    ReplayItem,
    ReplayRefused,
    check_rate,
    default_rate,
    plan,
    replay_start,
    replayable_subscriber,
)
from .retry_batches import retry_batch_create

STATUSES = ("dead", "all")


@dataclass(frozen=True)
class Redrive:
    """What a redrive would do: requeue ``dead_letters``, or send ``replays``."""

    subscriber: str
    since: datetime
    until: datetime
    status: str
    dead_letters: list[int] = field(default_factory=list)
    replays: list[ReplayItem] = field(default_factory=list)

    @property
    def total(self) -> int:
        return len(self.dead_letters) if self.status == "dead" else len(self.replays)

    def describe(self) -> str:
        window = f"{self.since.isoformat()} to {self.until.isoformat()}"
        if self.status == "dead":
            what = f"{self.total} dead letter(s) of events recorded {window}"
        else:
            what = f"{self.total} event(s) recorded {window}, as a new generation"
        return f"redrive {self.subscriber}: {what}"


def parse_moment(value: object, *, field: str) -> datetime:
    """An ISO-8601 date or time (naive: in the project's time zone); ReplayRefused naming
    ``field`` otherwise."""
    if isinstance(value, datetime):
        moment = value
    else:
        text = str(value or "").strip()
        if not text:
            raise ReplayRefused(f"{field}: is required (an ISO-8601 time, e.g. 2026-12-01T17:00Z)")
        try:
            moment = datetime.fromisoformat(text)
        except ValueError:
            raise ReplayRefused(
                f"{field}: {text!r} is not an ISO-8601 time (e.g. 2026-12-01T17:00:00Z)"
            ) from None
    if timezone.is_naive(moment):
        moment = timezone.make_aware(moment)
    try:  # what the database stores: UTC, which a moment near year 1 or 9999 may not reach
        moment.astimezone(UTC)
    except OverflowError:
        raise ReplayRefused(f"{field}: {moment.isoformat()} is out of range") from None
    return moment


def redrive_plan(*, subscriber: str, since: object, until: object, status: str = "dead") -> Redrive:
    """What redriving ``subscriber`` over ``[since, until)`` would do; nothing is written."""
    if status not in STATUSES:
        raise ReplayRefused(f"status: must be one of {', '.join(STATUSES)}")
    start = parse_moment(since, field="since")
    end = parse_moment(until, field="until")
    if end <= start:
        raise ReplayRefused("until: must be after since")
    name = (subscriber or "").strip()
    if not name:
        raise ReplayRefused("subscriber: is required")
    if status == "all":
        sub = replayable_subscriber(name)
    else:
        found = subscribers.get(name)
        if found is None and not Delivery.objects.filter(subscriber=name).exists():
            raise ReplayRefused(f"subscriber: no subscriber named {name!r}")
    window = {"recorded_at__gte": start, "recorded_at__lt": end}
    if status == "dead":
        dead = Delivery.objects.filter(
            subscriber=name,
            status=Delivery.Status.DEAD,
            **{f"event__{k}": v for k, v in window.items()},
        ).order_by("event_id", "pk")
        return Redrive(
            name, start, end, status, dead_letters=list(dead.values_list("pk", flat=True))
        )
    events = (
        Event.objects.filter(event_type__in=sub.event_types, **window).defer(*UNREAD).order_by("id")
    )
    return Redrive(name, start, end, status, replays=plan(events, chosen=[name]))


def redrive_start(
    redrive: Redrive, *, user_id: int | None, reason: str, rate: int | None = None
) -> RetryBatch:
    """Start the batch that carries ``redrive`` out, audited with who, why and what."""
    reason = (reason or "").strip()
    if not reason:
        raise ReplayRefused("reason: a reason is required to redrive a subscriber")
    reason_checked(reason, ReplayRefused)
    rate = check_rate(rate if rate is not None else default_rate())
    if not redrive.total:
        raise ReplayRefused(f"since: nothing to redrive ({redrive.describe()})")
    what = f"redrive {redrive.subscriber} {redrive.status}"
    if redrive.status == "all":
        return replay_start(redrive.replays, user_id=user_id, reason=reason, what=what, rate=rate)
    with transaction.atomic():
        batch = retry_batch_create(
            delivery_ids=redrive.dead_letters,
            user_id=user_id,
            reason=f"{what}: {reason}"[:200],
            rate=rate,
        )
        if user_id is not None:
            LogEntry.objects.log_actions(
                user_id=user_id,
                queryset=RetryBatch.objects.filter(pk=batch.pk),
                action_flag=ADDITION,
                change_message=f"{redrive.describe()}. Reason: {reason[:1000]}",
                single_object=False,
            )
    return batch
