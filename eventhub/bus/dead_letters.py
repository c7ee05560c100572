"""Operating dead letters: retry (same event, same subscriber, same event ID) or discard."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from functools import partial

from django.db import transaction
from django.db.models import F
from django.utils import timezone

from .. import live
from ..models import Delivery
from . import dispatch, subscribers
from .reasons import reason_checked


def dead_letter_retry(*, delivery_ids: Iterable[int], now: datetime | None = None) -> list[int]:
    """Put dead deliveries back in line with a fresh attempt budget; returns those requeued.

    The attempt history continues (the next attempt is number attempts + 1) and the
    idempotency record still guards effectively-once subscribers. A delivery that is no
    longer dead (retried or discarded concurrently) is left alone: the dead rows are locked
    first (SELECT ... FOR UPDATE; SQLite's immediate transactions serialize writers anyway),
    then updated with one conditional UPDATE per subscriber, not one per row (a batch
    retry at 200/s spent 2 ms a dead letter on row-by-row round trips).
    """
    requeued: list[int] = []
    now = now or timezone.now()
    with transaction.atomic():
        by_subscriber: dict[str, list[int]] = {}
        for pk, name in (
            Delivery.objects.select_for_update()
            .filter(pk__in=list(delivery_ids), status=Delivery.Status.DEAD)
            .values_list("pk", "subscriber")
        ):
            by_subscriber.setdefault(name, []).append(pk)
        for name, pks in by_subscriber.items():
            sub = subscribers.get(name)
            budget = sub.max_attempts if sub else 1
            Delivery.objects.filter(pk__in=pks, status=Delivery.Status.DEAD).update(
                status=Delivery.Status.PENDING,
                max_attempts=F("attempts") + budget,
                next_attempt_at=now,
                dispatched_at=None,
                dead_at=None,
                retried_at=now,
                updated_at=now,
            )
            requeued.extend(pks)
        if requeued:
            live.delivery_changed()
            transaction.on_commit(partial(dispatch.dispatch, list(requeued)), robust=True)
    return requeued


def dead_letter_discard(*, delivery_ids: Iterable[int], reason: str) -> list[int]:
    """Mark dead deliveries discarded with the operator's reason (kept, never retried)."""
    reason = reason.strip()
    if not reason:
        raise ValueError("reason: a reason is required to discard a dead letter")
    reason_checked(reason, ValueError)
    ids = list(delivery_ids)
    with transaction.atomic():
        discarded = list(
            Delivery.objects.filter(pk__in=ids, status=Delivery.Status.DEAD).values_list(
                "pk", flat=True
            )
        )
        Delivery.objects.filter(pk__in=discarded, status=Delivery.Status.DEAD).update(
            status=Delivery.Status.DISCARDED,
            discard_reason=reason[:2000],
            updated_at=timezone.now(),
        )
        if discarded:
            live.delivery_changed()
    return discarded
