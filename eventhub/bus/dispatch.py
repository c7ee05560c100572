"""Handing deliveries to the broker, at most one dispatch in flight per delivery.

Deliveries are claimed for dispatch by one conditional UPDATE per batch (``dispatched_at``
from NULL to now, ``dispatch_seq`` + 1, a fresh ``dispatch_token`` to read back what this
call won), so that any number of web processes and relays can race for the
same rows and exactly one of them enqueues it. The task carries ``dispatch_seq``: a message
left over from an earlier dispatch finds a different number and does nothing.
"""

from __future__ import annotations

import logging
import os
import random
import signal
import uuid
from collections.abc import Iterable

from django.conf import settings
from django.db.models import F
from django.utils import timezone

from .. import tracing
from ..models import Delivery
from . import subscribers

log = logging.getLogger(__name__)

DISPATCHABLE = (Delivery.Status.PENDING, Delivery.Status.RETRYING)
CLAIM_BATCH = 500


Claimed = tuple[int, int, str, str, int, str, dict[str, str]]


def _claim(delivery_ids: list[int]) -> tuple[uuid.UUID, list[Claimed]]:
    """Claim every still-undispatched delivery among ``delivery_ids`` in one UPDATE."""
    token = uuid.uuid4()
    Delivery.objects.filter(
        pk__in=delivery_ids, dispatched_at__isnull=True, status__in=DISPATCHABLE
    ).update(dispatched_at=timezone.now(), dispatch_seq=F("dispatch_seq") + 1, dispatch_token=token)
    rows = Delivery.objects.filter(dispatch_token=token).values_list(
        "pk",
        "dispatch_seq",
        "queue",
        "subscriber",
        "attempts",
        "event__event_type",
        "event__trace_context",
    )
    return token, list(rows)


def _release(token: uuid.UUID, delivery_ids: list[int]) -> None:
    Delivery.objects.filter(pk__in=delivery_ids, dispatch_token=token).update(dispatched_at=None)


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
    ids = list(delivery_ids)
    for offset in range(0, len(ids), CLAIM_BATCH):
        token, claimed = _claim(ids[offset : offset + CLAIM_BATCH])
        for index, row in enumerate(claimed):
            delivery_id, dispatch_seq, queue, subscriber_name, attempts, event_type, ctx = row
            timeout = subscribers.timeout_of(subscribers.get(subscriber_name))
            try:
                with tracing.dispatch_span(
                    delivery_id=delivery_id,
                    subscriber=subscriber_name,
                    attempt=attempts + 1,
                    event_type=event_type,
                    trace_context=ctx,
                ):
                    for _ in range(copies):
                        deliver.apply_async(
                            args=[delivery_id, dispatch_seq],
                            kwargs={"subscriber": subscriber_name},
                            queue=queue,
                            soft_time_limit=timeout,
                            time_limit=timeout + 5,
                            retry=False,
                        )
            except Exception as exc:  # the broker is down or unreachable: the relay retries
                _release(token, [c[0] for c in claimed[index:]])
                log.warning(
                    "broker unavailable, %d deliveries left to the relay: %s",
                    len(claimed) - index,
                    exc,
                )
                return sent
            sent += 1
    return sent
