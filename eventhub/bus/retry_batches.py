"""Large dead-letter retries, requeued by the relay at the batch's rate, whatever its interval.

A batch of kind ``replay`` carries (event, subscriber) pairs instead of dead letters: each
slice makes their next delivery generation (``replays``), and waits while an earlier
delivery of the same aggregate and subscriber is unfinished, so that a replay is delivered
in recorded order (``_held_back``). The pace is the same.

Pacing is a token bucket on wall time, kept in the batch's row so that any number of relays
(and a restarted one) agree: dead letter ``k`` of a batch is due ``k / rate`` seconds after
``paced_from``, the moment the first relay pass took the batch up. A pass requeues what is due
by now and not yet done, up to ``CATCH_UP_SECONDS`` of the rate: a relay late by up to that
(a slow pass, SQLite's write lock held by the workers) makes up for it, so the batch keeps its
rate over its whole run. A batch that fell further behind (its relays were down) has its
``paced_from`` moved up, so it goes on at its rate instead of catching up in one long burst.
The relay comes back when the next dead letter is due (``Advanced.next_due_in``), so a batch
at 1/s is not held to the relay's 0.5 s passes.

The pacing before took at most 0.25 s of the rate a pass and dropped the rest: every pass
that came later than that lost time for good, and on SQLite, where two busy workers kept the
relay waiting for the write lock for a second or more (``eventhub/backends/sqlite3`` says
why, and how it no longer does), a batch at 200/s ran at 159/s in CI and at 40-130/s on a
loaded machine.

The previous pacing granted ``rate x 0.1 s`` per pass: at the default 0.5 s interval a batch
ran at a fifth of its rate (50/s gave 10.4/s), and below 10/s the grant rounded down to none.

Each slice is claimed by a conditional UPDATE of ``done`` and ``paced_from`` (compare-and-set)
in the same transaction as its requeue and its audit entries: two relays never requeue the
same slice, a relay that dies mid-slice loses nothing (the claim rolls back with it), and a
cancel either lands before a slice (which then claims nothing) or after it.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.contrib.admin.models import ADDITION, CHANGE, LogEntry
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from .. import live
from ..models import Delivery, Event, RetryBatch, SubscriberPause
from . import replays
from .dead_letters import dead_letter_retry
from .dispatch import MESSAGE_BATCH

SLICE_MOST = 4 * MESSAGE_BATCH
"""The most one pass requeues of a retry batch (a replay's slice: ``MESSAGE_BATCH``). What is
owed beyond it stays owed and the relay comes back at once, so no time is lost, and no slice
holds SQLite's write lock for a thousand requeues and their audit rows (a batch at 1,000/s a
second late)."""
CATCH_UP_SECONDS = 1.0
"""How far behind its pace a batch may be and still make it up, in seconds of the rate: the
most one pass requeues (the depth of the token bucket; Guava's RateLimiter keeps one second
of permits too). Any one second of a batch holds at most ``rate x (1 + CATCH_UP_SECONDS) + 1``
requeues; a relay down for longer loses the rest of its time instead of sending it all at
once."""
EPSILON = 1e-6
"""Slack for float arithmetic on microsecond timestamps (a pass right on time is on time)."""


@dataclass(frozen=True)
class Allowance:
    count: int
    """Dead letters to requeue now."""
    paced_from: datetime
    """The pace's origin after this pass (moved up when the batch was more than
    ``CATCH_UP_SECONDS`` late)."""
    next_due_in: float | None
    """Seconds from now until the dead letter after this slice is due (0 when more is owed
    than this pass took: the batch is behind); None when none is left."""


@dataclass(frozen=True)
class Advanced:
    requeued: int
    """Dead letters put back in line by this pass, over every batch."""
    next_due_in: float | None
    """Seconds until some running batch has its next dead letter due; None if none runs."""


def allowance(
    *,
    rate: float,
    done: int,
    total: int,
    paced_from: datetime | None,
    now: datetime,
    most: int | None = None,
) -> Allowance:
    """What a batch may requeue at ``now``: ``floor(rate x elapsed) + 1 - done``, capped.

    The ``+ 1`` is the first dead letter, due as the batch starts (``paced_from`` is None
    until a pass takes it up). What is owed is kept up to ``CATCH_UP_SECONDS`` of the rate (at
    least one; beyond that the origin moves up), and a pass takes all of it, or at most
    ``most`` when given (a replay's slice must fit one message: see ``_held_back``).
    """
    origin = paced_from or now
    depth = max(1, math.ceil(rate * CATCH_UP_SECONDS))
    earned = math.floor(rate * (now - origin).total_seconds() + EPSILON) + 1
    owed = earned - done
    if owed > depth:  # the relays were down: forget what is older than the catch-up
        owed = depth
        origin = now - timedelta(seconds=(done + depth - 1) / rate)
    count = max(0, min(owed, total - done, most if most is not None else owed))
    following = done + count
    if following >= total:
        next_due_in = None
    elif owed > count:
        next_due_in = 0.0  # behind: the next is due already, come back at once
    else:
        next_due_in = following / rate - (now - origin).total_seconds()
    return Allowance(count=count, paced_from=origin, next_due_in=next_due_in)


def retry_batch_create(
    *,
    delivery_ids: Iterable[int],
    user_id: int | None,
    reason: str = "",
    rate: int | None = None,
) -> RetryBatch:
    """A batch for the relay to carry out, with one audit entry for the request itself.

    ``rate`` (per second) defaults to ``EVENTHUB["RETRY_RATE_PER_SECOND"]``.
    """
    ids = sorted(set(delivery_ids))
    rate = rate or int(settings.EVENTHUB["RETRY_RATE_PER_SECOND"])
    with transaction.atomic():
        batch = RetryBatch.objects.create(
            requested_by_id=user_id,
            delivery_ids=ids,
            total=len(ids),
            rate_per_second=rate,
            reason=reason[:200],
            finished_at=timezone.now() if not ids else None,
        )
        if user_id is not None:
            why = f" ({reason})" if reason else ""
            LogEntry.objects.log_actions(
                user_id=user_id,
                queryset=RetryBatch.objects.filter(pk=batch.pk),
                action_flag=ADDITION,
                change_message=f"Started: retry {len(ids)} dead letter(s) at {rate}/s{why}",
                single_object=False,
            )
        live.retry_batch_changed()
    return batch


def retry_batch_cancel(*, batch_id: int, user_id: int | None) -> bool:
    """Stop a running batch: nothing more of it is requeued. False if it was not running.

    A guarded UPDATE (running -> cancelled): it waits for a slice being requeued to commit,
    and a slice that comes after it finds the batch finished and claims nothing.
    """
    now = timezone.now()
    with transaction.atomic():
        cancelled = RetryBatch.objects.filter(
            pk=batch_id, finished_at__isnull=True, cancelled_at__isnull=True
        ).update(cancelled_at=now, cancelled_by_id=user_id, finished_at=now)
        if not cancelled:
            return False
        batch = RetryBatch.objects.get(pk=batch_id)
        if user_id is not None:
            LogEntry.objects.log_actions(
                user_id=user_id,
                queryset=RetryBatch.objects.filter(pk=batch_id),
                action_flag=CHANGE,
                change_message=(
                    f"Cancelled after {batch.done} of {batch.total} ({batch.requeued} requeued)"
                ),
                single_object=False,
            )
        live.retry_batch_changed()
    return True


WAIT_FOR_PREVIOUS_SECONDS = 0.05
"""How soon a relay looks again at a replay held back by an earlier event of the same flow."""
UNFINISHED = (Delivery.Status.PENDING, Delivery.Status.RUNNING, Delivery.Status.RETRYING)
ORDER_LOOKBACK_SLICES = 8
"""How many slices back a replay looks for unfinished deliveries that must go first."""


def _held_back(batch: RetryBatch, count: int) -> bool:
    """A replay is delivered in recorded order: its next ``count`` items wait while a
    delivery it made earlier for the same aggregate (a saga, an order) and subscriber is
    unfinished. Unrelated aggregates do not wait on each other, so a window of many flows
    goes at its rate.

    Within a slice the order holds by itself: a replay's slice is at most ``MESSAGE_BATCH``
    (``advance``), so it is dispatched at once as one message per queue, whose deliveries a
    worker runs one after another. The look back covers the last ``ORDER_LOOKBACK_SLICES``
    slices: a delivery still retrying after that many may be overtaken. A delivery held by a
    paused subscriber does not hold the replay back: the pause keeps it, and the resume
    releases that subscriber's deliveries in recorded order.
    """
    if batch.kind != RetryBatch.Kind.REPLAY or not batch.delivery_ids:
        return False
    recent = batch.delivery_ids[-MESSAGE_BATCH * ORDER_LOOKBACK_SLICES :]
    busy = set(
        Delivery.objects.filter(pk__in=recent, status__in=UNFINISHED)
        .exclude(subscriber__in=SubscriberPause.objects.values("subscriber"))
        .values_list("event__aggregate_type", "event__aggregate_id", "subscriber")
    )
    if not busy:
        return False
    upcoming = batch.replays[batch.done : batch.done + count]
    aggregates = {
        pk: (kind, key)
        for pk, kind, key in Event.objects.filter(pk__in=[p for p, _ in upcoming]).values_list(
            "pk", "aggregate_type", "aggregate_id"
        )
    }
    return any((*aggregates[pk], name) in busy for pk, name in upcoming if pk in aggregates)


def advance() -> Advanced:
    """Requeue what each running batch's pace allows by now (called on every relay pass)."""
    requeued = 0
    next_due: list[float] = []
    for batch in RetryBatch.objects.filter(finished_at__isnull=True).order_by("pk"):
        now = timezone.now()
        allowed = allowance(
            rate=batch.rate_per_second,
            done=batch.done,
            total=batch.total,
            paced_from=batch.paced_from,
            now=now,
            most=MESSAGE_BATCH if batch.kind == RetryBatch.Kind.REPLAY else SLICE_MOST,
        )
        if allowed.count and _held_back(batch, allowed.count):
            next_due.append(WAIT_FOR_PREVIOUS_SECONDS)
            continue
        if allowed.count:
            requeued += _requeue_slice(batch, allowed, now)
        if allowed.next_due_in is not None:
            next_due.append(allowed.next_due_in)
    return Advanced(requeued=requeued, next_due_in=min(next_due, default=None))


def _requeue_slice(batch: RetryBatch, allowed: Allowance, now: datetime) -> int:
    start, end = batch.done, batch.done + allowed.count
    with transaction.atomic():
        claimed = RetryBatch.objects.filter(
            pk=batch.pk, done=start, paced_from=batch.paced_from, finished_at__isnull=True
        ).update(
            done=end,
            paced_from=allowed.paced_from,
            advanced_at=now,
            finished_at=now if end == batch.total else None,
        )
        if not claimed:
            return 0  # another relay took this slice, or the batch was cancelled
        if batch.kind == RetryBatch.Kind.REPLAY:
            ids = replays.replay_deliver(batch.replays[start:end], now=timezone.now())
            # The deliveries made so far, for the next slice to wait on and for progress
            # (this relay holds the slice's claim: no other writes the list meanwhile).
            RetryBatch.objects.filter(pk=batch.pk).update(delivery_ids=[*batch.delivery_ids, *ids])
            replays.log_replayed(batch, ids)
        else:
            ids = dead_letter_retry(delivery_ids=batch.delivery_ids[start:end], now=timezone.now())
            if ids and batch.requested_by_id is not None:
                # The audit says what was done when it was done, by whom it was asked.
                LogEntry.objects.log_actions(
                    user_id=batch.requested_by_id,
                    queryset=Delivery.objects.filter(pk__in=ids),
                    action_flag=CHANGE,
                    change_message=retried_message(batch),
                    single_object=False,
                )
        RetryBatch.objects.filter(pk=batch.pk).update(requeued=F("requeued") + len(ids))
        live.retry_batch_changed()
    return len(ids)


def retried_message(batch: RetryBatch) -> str:
    """The audit log's words for a dead letter this batch requeued."""
    if batch.reason:
        return f"Retried ({batch.reason}; batch {batch.pk})"
    return f"Retried (batch {batch.pk})"
