"""Handing deliveries to the broker, at most one dispatch in flight per delivery.

A delivery is claimed for dispatch by a conditional UPDATE (``dispatched_at`` from NULL to
now, ``dispatch_seq`` + 1), so that any number of web processes and relays can race for the
same rows and exactly one of them enqueues it. The task carries ``dispatch_seq``: a message
left over from an earlier dispatch finds a different number and does nothing.
"""

from __future__ import annotations

import logging
import os
import random
import signal
from collections.abc import Iterable

from django.conf import settings
from django.db.models import F
from django.utils import timezone

from ..models import Delivery
from . import subscribers

log = logging.getLogger(__name__)

DISPATCHABLE = (Delivery.Status.PENDING, Delivery.Status.RETRYING)


def _claim(delivery_id: int) -> tuple[int, str, str] | None:
    claimed = Delivery.objects.filter(
        pk=delivery_id, dispatched_at__isnull=True, status__in=DISPATCHABLE
    ).update(dispatched_at=timezone.now(), dispatch_seq=F("dispatch_seq") + 1)
    if not claimed:
        return None
    row = Delivery.objects.values_list("dispatch_seq", "queue", "subscriber").get(pk=delivery_id)
    return row


def _release(delivery_id: int, dispatch_seq: int) -> None:
    Delivery.objects.filter(pk=delivery_id, dispatch_seq=dispatch_seq).update(dispatched_at=None)


def dispatch(delivery_ids: Iterable[int]) -> int:
    """Enqueue each delivery that is still undispatched; return how many were sent.

    When the broker refuses, the claimed row is released and the rest are left for the relay.
    """
    from .tasks import deliver

    chaos_crash = float(settings.EVENTHUB["CHAOS_CRASH_BEFORE_DISPATCH"])
    if chaos_crash and random.random() < chaos_crash:
        os.kill(os.getpid(), signal.SIGKILL)  # chaos: die between commit and dispatch
    copies = 2 if settings.EVENTHUB["CHAOS_DUPLICATE_DISPATCH"] else 1
    sent = 0
    for delivery_id in delivery_ids:
        claimed = _claim(delivery_id)
        if claimed is None:
            continue
        dispatch_seq, queue, subscriber_name = claimed
        timeout = subscribers.timeout_of(subscribers.get(subscriber_name))
        try:
            for _ in range(copies):
                deliver.apply_async(
                    args=[delivery_id, dispatch_seq],
                    queue=queue,
                    soft_time_limit=timeout,
                    time_limit=timeout + 5,
                    retry=False,
                )
        except Exception as exc:  # the broker is down or unreachable: the relay retries
            _release(delivery_id, dispatch_seq)
            log.warning("broker unavailable, delivery %s left to the relay: %s", delivery_id, exc)
            break
        sent += 1
    return sent
