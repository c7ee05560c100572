"""What the operator commands share: who is acting (for the audit log) and following a batch."""

from __future__ import annotations

import time
from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import CommandError

from eventhub.models import RetryBatch


def acting_user_id(username: str | None) -> int | None:
    """The user named by ``--user`` (the audit log's "who"); None when not given."""
    if not username:
        return None
    user = get_user_model()._default_manager.filter(username=username).first()
    if user is None:
        raise CommandError(f"--user: no user named {username!r}")
    return user.pk


def follow(batch: RetryBatch, write: Any, *, poll_seconds: float = 0.5) -> RetryBatch:
    """Print the batch's progress until it finishes (the relay carries it out)."""
    shown = None
    while True:
        batch.refresh_from_db()
        state = (batch.done, batch.requeued, batch.status)
        if state != shown:
            write(f"batch {batch.pk}: {batch.done}/{batch.total} handled, "
                  f"{batch.requeued} sent ({batch.status})")  # fmt: skip
            shown = state
        if batch.finished_at:
            return batch
        time.sleep(poll_seconds)
