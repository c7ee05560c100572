"""Large dead-letter retries, requeued by the relay at no more than the batch's rate.

The relay calls ``advance`` on every pass. A slice of a batch is claimed with a conditional
UPDATE of ``done`` (compare-and-set), so several relays never requeue the same slice.
"""

from __future__ import annotations

from collections.abc import Iterable

from django.conf import settings
from django.db.models import F
from django.utils import timezone

from ..models import RetryBatch
from .dead_letters import dead_letter_retry

MAX_BURST_SECONDS = 0.1


def retry_batch_create(*, delivery_ids: Iterable[int], user_id: int | None) -> RetryBatch:
    ids = sorted(set(delivery_ids))
    return RetryBatch.objects.create(
        requested_by_id=user_id,
        delivery_ids=ids,
        total=len(ids),
        rate_per_second=int(settings.EVENTHUB["RETRY_RATE_PER_SECOND"]),
        finished_at=timezone.now() if not ids else None,
    )


def advance() -> int:
    """Requeue the next slice of every unfinished batch that its rate allows; returns count."""
    requeued = 0
    now = timezone.now()
    for batch in RetryBatch.objects.filter(finished_at__isnull=True).order_by("pk"):
        since = batch.advanced_at or batch.created_at
        # At most MAX_BURST_SECONDS of allowance at once, counted from the previous slice's
        # requeue time: over any second, a batch requeues no more than
        # rate * (1 + MAX_BURST_SECONDS).
        elapsed = min(max((now - since).total_seconds(), 0.0), MAX_BURST_SECONDS)
        allowance = int(batch.rate_per_second * elapsed)
        if batch.advanced_at is None:
            allowance = max(allowance, 1)
        if allowance < 1:
            continue
        start = batch.done
        end = min(batch.total, start + allowance)
        claimed = RetryBatch.objects.filter(pk=batch.pk, done=start).update(
            done=end,
            advanced_at=now,
            finished_at=now if end == batch.total else None,
        )
        if not claimed:
            continue  # another relay took this slice
        ids = batch.delivery_ids[start:end]
        # The slice is charged at the moment it is requeued, not when it was claimed: under
        # load the two can be far apart, and counting from the claim would let a late slice
        # and the next one land together (seen: 163 requeues in one second at 100/s).
        requeued_at = timezone.now()
        count = len(dead_letter_retry(delivery_ids=ids, now=requeued_at))
        RetryBatch.objects.filter(pk=batch.pk).update(
            requeued=F("requeued") + count, advanced_at=requeued_at
        )
        requeued += count
    return requeued
