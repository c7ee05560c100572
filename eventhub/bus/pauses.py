"""Pausing and resuming a subscriber: its deliveries are held, then released in order at a rate.

While a subscriber is paused its events are still recorded and its deliveries created, but
they are *held*: pending or retrying, undispatched, never attempted, so never dead-lettered.
Every hand-off checks the pause inside its own claim (``holds``): the after-commit dispatch
and the relay's due scan leave the deliveries undispatched, and a message that was already
in the broker when the pause landed reaches a worker whose claim refuses it; the worker puts
the delivery back undispatched without counting an attempt (``delivery._not_claimed``). An
attempt whose claim committed before the pause runs to its end: a pause stops what has not
started.

A resume does not dispatch anything itself. It marks the pause *resuming* and fences the
held deliveries whose message may still be in the broker (a new dispatch number and no
dispatch: that message then does nothing, so nothing of the backlog runs out of order). The
relay's ``release_resumed`` then dispatches the held deliveries in recorded order (by id)
at ``EVENTHUB_RETRY_RATE_PER_SECOND``: delivery ``k`` of the backlog is due ``k / rate``
seconds after the resume, and each pass dispatches what is due by then. Deliveries recorded
while it resumes are held too, and join the end of the line, so the subscriber sees its
events in recorded order across the pause. When no held delivery is left, the pause row is
deleted and the subscriber is back to normal.

Order: a slice (at most ``MESSAGE_BATCH``, so one ``deliver_many`` message, which a worker
runs one delivery after the other in id order) is released only when the slice before it
is done (no delivery of the subscriber dispatched and unfinished). Two slices never run side
by side on competing worker processes, so the handler sees the backlog in recorded order,
not just the broker. The rate is then at most the configured one (a handler slower than it
sets the pace). A delivery of the backlog that fails is retried when its backoff is due, as
any failure is: the deliveries behind it do not wait for it.

Each slice is claimed by a compare-and-set on the pause row (``released`` and
``paced_from``), so two relays never release the same slice twice over (the dispatch claim
would refuse the second anyway; the compare-and-set keeps the pace). A relay that dies after
claiming a slice and before dispatching it leaves those deliveries undispatched: they are
still the first in line, and the next pass releases them.

Once: a held delivery is dispatched by the release alone, the dispatch claim hands it out
once per dispatch number, and a worker's claim is guarded by that number.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.contrib.admin.models import ADDITION, CHANGE, LogEntry
from django.db import transaction
from django.db.models import Count, F
from django.utils import timezone

from .. import live
from ..models import Delivery, SubscriberPause
from . import subscribers
from .dispatch import DISPATCHABLE, MESSAGE_BATCH, dispatch
from .reasons import reason_checked

MAX_REASON_CHARS = 500
IN_FLIGHT = (*DISPATCHABLE, Delivery.Status.RUNNING)
EPSILON = 1e-6
"""Slack for float arithmetic on microsecond timestamps (a pass right on time is on time)."""


class PauseError(ValueError):
    """A refused pause or resume; the message names the field (or the subscriber)."""


@dataclass(frozen=True)
class Outcome:
    pause: SubscriberPause
    changed: bool
    """False when it was already so (pausing a paused subscriber, resuming a resuming one)."""
    held: int


def _known(name: str) -> str:
    if not isinstance(name, str) or subscribers.get(name) is None:
        raise PauseError(f"subscriber: no subscriber named {name!r}")
    return name


def _reason(reason: Any) -> str:
    if reason is None:
        return ""
    if not isinstance(reason, str):
        raise PauseError("reason: must be text")
    if len(reason.strip()) > MAX_REASON_CHARS:
        raise PauseError(f"reason: at most {MAX_REASON_CHARS} characters")
    return reason_checked(reason.strip(), PauseError)


def held_count(name: str) -> int:
    """Deliveries of ``name`` waiting: pending or retrying and not handed to the broker (or
    handed over before the pause, to be put back by the worker)."""
    return Delivery.objects.filter(subscriber=name, status__in=DISPATCHABLE).count()


def _audit(user_id: int | None, pause: SubscriberPause, flag: int, message: str) -> None:
    if user_id is None:
        return
    LogEntry.objects.log_actions(
        user_id=user_id,
        queryset=SubscriberPause.objects.filter(pk=pause.pk),
        action_flag=flag,
        change_message=message,
        single_object=True,
    )


def subscriber_pause(*, name: str, user_id: int | None, reason: Any = "") -> Outcome:
    """Hold ``name``'s deliveries from now on (a resuming subscriber is held again)."""
    name, why = _known(name), _reason(reason)
    now = timezone.now()
    with transaction.atomic():
        pause = SubscriberPause.objects.select_for_update().filter(subscriber=name).first()
        if pause is not None and pause.resumed_at is None:
            return Outcome(pause=pause, changed=False, held=held_count(name))
        if pause is None:
            pause = SubscriberPause.objects.create(
                subscriber=name,
                paused_at=now,
                paused_by_id=user_id,
                reason=why,
                rate_per_second=_rate(),
            )
        else:  # paused again while resuming: what is not yet released stays held
            pause.paused_at, pause.paused_by_id, pause.reason = now, user_id, why
            pause.resumed_at = pause.resumed_by_id = pause.paced_from = None
            pause.released = 0
            pause.save()
        _audit(user_id, pause, ADDITION, f"Paused {name}" + (f": {why}" if why else ""))
        live.announce("pause")
    return Outcome(pause=pause, changed=True, held=held_count(name))


def _rate() -> int:
    return max(1, int(settings.EVENTHUB["RETRY_RATE_PER_SECOND"]))


def subscriber_resume(*, name: str, user_id: int | None) -> Outcome:
    """Release ``name``'s held deliveries in recorded order at the retry rate (by the relay).

    The held deliveries get a new dispatch number and no dispatch, so that a message of theirs
    still in the broker (dispatched before the pause and not yet seen by a worker) does
    nothing, and the release sends them in their place in the line.
    """
    name = _known(name)
    now = timezone.now()
    with transaction.atomic():
        pause = SubscriberPause.objects.select_for_update().filter(subscriber=name).first()
        if pause is None:
            raise PauseError(f"subscriber: {name} is not paused")
        if pause.resumed_at is not None:
            return Outcome(pause=pause, changed=False, held=held_count(name))
        # Every held delivery, not only those marked dispatched: the relay's stale-dispatch
        # reset clears ``dispatched_at`` of a message still queued and keeps its number, so
        # such a message would otherwise run at once on resume, out of order and off the pace.
        Delivery.objects.filter(subscriber=name, status__in=DISPATCHABLE).update(
            dispatched_at=None, dispatch_seq=F("dispatch_seq") + 1
        )
        pause.resumed_at = pause.paced_from = now
        pause.resumed_by_id = user_id
        pause.rate_per_second = _rate()
        pause.released = 0
        pause.save()
        held = held_count(name)
        _audit(
            user_id,
            pause,
            CHANGE,
            f"Resumed {name}: {held} held deliveries released in recorded order "
            f"at {pause.rate_per_second}/s",
        )
        live.announce("pause")
    return Outcome(pause=pause, changed=True, held=held)


@dataclass(frozen=True)
class Slice:
    count: int
    paced_from: datetime


def allowance(*, rate: float, released: int, paced_from: datetime, now: datetime) -> Slice:
    """How many held deliveries are due at ``now``: ``floor(rate x elapsed) + 1 - released``.

    At most a burst of two default relay intervals' worth, and one message's worth
    (``MESSAGE_BATCH``): a relay that was down does not catch up in one flood; the pace's
    origin moves up instead and it goes on at its rate.
    """
    interval = float(settings.EVENTHUB["RELAY_INTERVAL_SECONDS"])
    burst = max(1, min(MESSAGE_BATCH, math.ceil(rate * 2 * interval)))
    earned = math.floor(rate * (now - paced_from).total_seconds() + EPSILON) + 1
    count = earned - released
    if count > burst:
        count = burst
        paced_from = now - timedelta(seconds=(released + burst - 1) / rate)
    return Slice(count=max(0, count), paced_from=paced_from)


def release_resumed() -> int:
    """Dispatch what each resuming subscriber's pace allows by now; delete finished pauses.

    Called on every relay pass; returns how many deliveries it dispatched.
    """
    sent = 0
    for pause in SubscriberPause.objects.filter(resumed_at__isnull=False):
        now = timezone.now()
        assert pause.paced_from is not None
        allowed = allowance(
            rate=pause.rate_per_second,
            released=pause.released,
            paced_from=pause.paced_from,
            now=now,
        )
        if not allowed.count or _in_flight(pause.subscriber):
            continue
        with transaction.atomic():
            ids = list(
                Delivery.objects.filter(
                    subscriber=pause.subscriber,
                    status__in=DISPATCHABLE,
                    dispatched_at__isnull=True,
                    next_attempt_at__lte=now,
                )
                .order_by("pk")
                .values_list("pk", flat=True)[: allowed.count]
            )
            mine = SubscriberPause.objects.filter(
                pk=pause.pk,
                resumed_at=pause.resumed_at,
                released=pause.released,
                paced_from=pause.paced_from,
            )
            if len(ids) < allowed.count:
                # The line is empty (after these): the subscriber is back to normal. A
                # delivery recorded meanwhile is dispatched by the relay's next due scan.
                if not mine.delete()[0]:
                    continue
                live.announce("pause")
            elif not mine.update(released=F("released") + len(ids), paced_from=allowed.paced_from):
                continue  # another relay took this slice, or it was paused again
        if ids:
            sent += dispatch(ids, release=True)
    return sent


def _in_flight(name: str) -> bool:
    """A released slice of ``name`` is still handed out or running (its message not done)."""
    return Delivery.objects.filter(
        subscriber=name, status__in=IN_FLIGHT, dispatched_at__isnull=False
    ).exists()


def pauses_summary() -> list[dict[str, Any]]:
    """Every paused or resuming subscriber with what it holds (the dashboard's live state)."""
    pauses = list(SubscriberPause.objects.select_related("paused_by").order_by("subscriber"))
    if not pauses:
        return []
    counts = dict(
        Delivery.objects.filter(
            subscriber__in=[p.subscriber for p in pauses], status__in=DISPATCHABLE
        )
        .values_list("subscriber")
        .annotate(n=Count("id"))
        .values_list("subscriber", "n")
    )
    return [pause_json(p, held=counts.get(p.subscriber, 0)) for p in pauses]


def pause_json(pause: SubscriberPause, *, held: int) -> dict[str, Any]:
    return {
        "subscriber": pause.subscriber,
        "state": pause.state,
        "held": held,
        "pausedAt": int(pause.paused_at.timestamp() * 1000),
        "pausedBy": pause.paused_by.get_username() if pause.paused_by else "",
        "reason": pause.reason,
        "ratePerSecond": pause.rate_per_second,
    }
