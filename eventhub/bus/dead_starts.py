"""Starts that died with their whole worker: release their dispatch so the relay sends again.

A one-transaction attempt (``delivery``) leaves nothing in the database when its process
dies mid-handler: the claim rolls back and the delivery is pending and dispatched again, as
if its message were still queued. A killed pool process's message comes back at once (acks
late), but a worker killed whole (main process and pool, as under a Procfile) leaves its
message unacked in Redis until the visibility timeout (an hour), and the relay's backstop
(``REDISPATCH_AFTER_SECONDS``) re-sends it after ten minutes. The start counter
(``starts``) tells such a delivery apart from one whose message is merely queued: a start
was counted and no outcome recorded, so the counter is ahead of ``attempts``.

Each relay pass releases (``dispatched_at`` = NULL) the dispatchable deliveries dispatched
longer ago than their subscriber's timeout plus ``LEASE_GRACE_SECONDS`` (the lease a leased
attempt holds, and the bound the engine's committed claim had before) whose counter is ahead
of ``attempts``; the relay then dispatches them again in the same pass and the next start
records the dead one as lost (dead-lettering the delivery once that uses up its attempts).
The release is a conditional UPDATE that re-checks the status and the dispatch number, so a
delivery that succeeded or was dispatched again meanwhile is left alone.

A handler that is still running must not be released: its start is counted and its claim
not committed, which looks the same from outside. On PostgreSQL its claim holds the row lock
until it commits, and the scan (``SELECT ... FOR UPDATE SKIP LOCKED``) skips locked rows; a
start that begins during the scan waits for the scan's own lock before it counts. SQLite has
no row locks, but a running handler holds the database's one write lock from its claim to its
commit, and the scan's transaction begins IMMEDIATE (settings): it waits for that commit and
then reads a succeeded delivery as succeeded. The age bound guards both: a handler may run for
its timeout, and a delivery younger than timeout plus grace is never looked at.

The scan is bounded: the oldest ``SCAN_LIMIT`` candidates a pass, one MGET for their counters.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

import redis
from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from ..models import Delivery
from . import starts, subscribers
from .dispatch import DISPATCHABLE

log = logging.getLogger(__name__)

SCAN_LIMIT = 300


def age_bound(subscriber: subscribers.Subscriber | None) -> float:
    """Seconds after its dispatch that a delivery's start may still be running."""
    return subscribers.timeout_of(subscriber) + float(settings.EVENTHUB["LEASE_GRACE_SECONDS"])


def old_enough(now: datetime) -> Q:
    """Dispatched longer ago than the age bound of its subscriber (default: unknown ones)."""
    by_bound: dict[float, list[str]] = {}
    for sub in subscribers.all_subscribers():
        by_bound.setdefault(age_bound(sub), []).append(sub.name)
    known = [name for names in by_bound.values() for name in names]
    query = ~Q(subscriber__in=known) & Q(dispatched_at__lt=now - timedelta(seconds=age_bound(None)))
    for bound, names in by_bound.items():
        query |= Q(subscriber__in=names, dispatched_at__lt=now - timedelta(seconds=bound))
    return query


def release_dead_starts() -> int:
    """Release the dispatch of deliveries whose last start died; how many were released."""
    candidates = old_enough(timezone.now()) & Q(
        status__in=DISPATCHABLE, dispatched_at__isnull=False
    )
    if not Delivery.objects.filter(candidates).exists():
        return 0  # the usual case: no lock taken (on SQLite every transaction is a write lock)
    with transaction.atomic():
        rows = list(
            Delivery.objects.select_for_update(skip_locked=True, of=("self",))
            .filter(candidates)
            .order_by("dispatched_at", "pk")
            .values_list(
                "pk", "dispatch_seq", "attempts", "subscriber", "event__event_id", "generation"
            )[:SCAN_LIMIT]
        )
        if not rows:
            return 0
        keys = [starts.key_of(event_id, sub, gen) for *_, sub, event_id, gen in rows]
        try:
            counts = starts.counts(keys)
        except redis.RedisError as exc:
            log.warning("start counter unavailable, cannot look for dead starts: %s", exc)
            return 0
        released = 0
        for (pk, dispatch_seq, attempts, *_), count in zip(rows, counts, strict=True):
            if int(count or 0) > attempts:
                released += Delivery.objects.filter(
                    pk=pk, dispatch_seq=dispatch_seq, status__in=DISPATCHABLE
                ).update(dispatched_at=None)
        if released:
            log.warning("released %d deliveries whose start died with its worker", released)
        return released
