"""An operator's retry or discard of dead letters, with the admin log entry that records it.

The admin's actions, the dead-letter detail page and the dashboard all come here, so every
way in retries through the same path (a RetryBatch the relay carries out at its rate) and
leaves the same audit trail (one LogEntry per dead letter, with the user and the reason;
for a retry, written when the relay requeues it).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.contrib.admin.models import CHANGE, LogEntry
from django.db import transaction
from django.db.models import QuerySet

from .bus.corrections import dead_letter_correct
from .bus.dead_letters import dead_letter_discard
from .bus.retry_batches import retry_batch_create
from .models import Delivery, Event, RetryBatch


def log_actions(*, user_id: int, queryset: QuerySet[Any], message: str) -> None:
    """One admin log entry per object, with who (the user) and why (the message)."""
    LogEntry.objects.log_actions(
        user_id=user_id,
        queryset=queryset,
        action_flag=CHANGE,
        change_message=message,
        single_object=False,
    )


def retry_requested(*, user_id: int, delivery_ids: Iterable[int], why: str) -> RetryBatch:
    """Start a retry batch of these dead letters for the user.

    Logged as it happens: one entry for the batch now, then one per dead letter when the
    relay actually requeues it, in the user's name (``eventhub.bus.retry_batches``), and
    none for a dead letter it never requeues (cancelled, or discarded meanwhile).
    """
    return retry_batch_create(delivery_ids=list(delivery_ids), user_id=user_id, reason=why)


def discard_requested(*, user_id: int, delivery_ids: Iterable[int], reason: str) -> list[int]:
    """Discard these dead letters with the user's reason (required), and log those discarded."""
    reason = reason.strip()
    discarded = dead_letter_discard(delivery_ids=delivery_ids, reason=reason)
    log_actions(
        user_id=user_id,
        queryset=Delivery.objects.filter(pk__in=discarded),
        message=f"Discarded: {reason}",
    )
    return discarded


def edit_and_retry_requested(
    *, user_id: int, username: str, delivery_id: int, data: Any, version: str, reason: str
) -> tuple[Delivery, Event]:
    """Replace a dead letter by the user's corrected payload (see bus/corrections.py), with
    one admin log entry on the dead letter holding who, why and the diff, in the same
    transaction: refused (CorrectionRefused, DeadLetterChanged), nothing is written."""
    with transaction.atomic():
        original, correction, diff = dead_letter_correct(
            delivery_id=delivery_id, data=data, version=version, by=username, reason=reason
        )
        log_actions(
            user_id=user_id,
            queryset=Delivery.objects.filter(pk=original.pk),
            message=(
                f"Edited & retried: {reason.strip()} (correction event {correction.event_id})"
                f"\n{diff}"
            ),
        )
    return original, correction
