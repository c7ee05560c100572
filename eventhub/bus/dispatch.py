"""Handing deliveries to the broker, at most one dispatch in flight per delivery.

Deliveries are claimed for dispatch by one conditional UPDATE per batch (``dispatched_at``
from NULL to now, ``dispatch_seq`` + 1, a fresh ``dispatch_token`` to read back what this
call won), so that any number of web processes and relays can race for the
same rows and exactly one of them enqueues it. The task carries ``dispatch_seq``: a message
left over from an earlier dispatch finds a different number and does nothing.

The deliveries claimed together are sent per queue: one ``deliver`` message for a lone one,
one ``deliver_many`` message for up to ``MESSAGE_BATCH`` of them (each with its own
dispatch number), so that a commit of many events costs a few broker round trips and a
worker a few task receipts and acks.

Messages are sent by task name through the Celery app: sending needs the message's shape, not
the worker's code (``tasks`` and ``delivery``, which import this module).
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
from ..celery import app
from ..models import Delivery
from . import subscribers
from .holds import held_for_attempt, held_for_dispatch

log = logging.getLogger(__name__)

DISPATCHABLE = (Delivery.Status.PENDING, Delivery.Status.RETRYING)
CLAIM_BATCH = 500
MESSAGE_BATCH = 50
"""Deliveries in one ``deliver_many`` message at most (a worker runs them one after another)."""
DELIVER = "eventhub.deliver"
"""The task name of one delivery: ``(delivery_id, dispatch_seq, subscriber=)``."""
DELIVER_MANY = "eventhub.deliver_many"
"""The task name of several: ``([(delivery_id, dispatch_seq, subscriber), ...])``."""


Claimed = tuple[int, int, str, str, int, str, dict[str, str]]


def _claim(delivery_ids: list[int], *, release: bool) -> tuple[uuid.UUID, list[Claimed]]:
    """Claim every still-undispatched delivery among ``delivery_ids`` in one UPDATE.

    A paused subscriber's deliveries are left out (``holds``); so are a resuming one's,
    unless this is the relay's paced ``release`` of its backlog.
    """
    token = uuid.uuid4()
    held = held_for_attempt() if release else held_for_dispatch()
    Delivery.objects.filter(
        ~held, pk__in=delivery_ids, dispatched_at__isnull=True, status__in=DISPATCHABLE
    ).update(dispatched_at=timezone.now(), dispatch_seq=F("dispatch_seq") + 1, dispatch_token=token)
    rows = (
        Delivery.objects.filter(dispatch_token=token)
        .order_by("pk")  # a batch runs in the order its events were recorded
        .values_list(
            "pk",
            "dispatch_seq",
            "queue",
            "subscriber",
            "attempts",
            "event__event_type",
            "event__trace_context",
        )
    )
    return token, list(rows)


def _release(token: uuid.UUID, delivery_ids: list[int]) -> None:
    Delivery.objects.filter(pk__in=delivery_ids, dispatch_token=token).update(dispatched_at=None)


def _messages(claimed: list[Claimed]) -> list[tuple[str, list[tuple[int, int, str]]]]:
    """The claimed rows grouped by queue, in order, at most ``MESSAGE_BATCH`` per message."""
    by_queue: dict[str, list[tuple[int, int, str]]] = {}
    for delivery_id, dispatch_seq, queue, subscriber_name, *_ in claimed:
        by_queue.setdefault(queue, []).append((delivery_id, dispatch_seq, subscriber_name))
    return [
        (queue, rows[i : i + MESSAGE_BATCH])
        for queue, rows in by_queue.items()
        for i in range(0, len(rows), MESSAGE_BATCH)
    ]


def _send(queue: str, rows: list[tuple[int, int, str]]) -> None:
    timeouts = [subscribers.timeout_of(subscribers.get(name)) for _, _, name in rows]
    if len(rows) == 1:
        (delivery_id, dispatch_seq, subscriber_name), timeout = rows[0], timeouts[0]
        app.signature(DELIVER).apply_async(
            args=[delivery_id, dispatch_seq],
            kwargs={"subscriber": subscriber_name},
            queue=queue,
            soft_time_limit=timeout,
            time_limit=timeout + 5,
            retry=False,
        )
        return
    # Each delivery has its own soft limit in the worker; the message's are their sum.
    app.signature(DELIVER_MANY).apply_async(
        args=[[list(row) for row in rows]],
        queue=queue,
        soft_time_limit=sum(timeouts),
        time_limit=sum(timeouts) + 5,
        retry=False,
    )


def dispatch(delivery_ids: Iterable[int], *, release: bool = False) -> int:
    """Enqueue each delivery that is still undispatched and not held; return how many were
    sent.

    When the broker refuses, the claimed rows not yet sent are released and left for the
    relay. ``release``: the relay's paced release of a resumed subscriber's backlog
    (``pauses``), the one hand-off that a resuming subscriber's deliveries may take.
    """
    chaos_crash = float(settings.EVENTHUB["CHAOS_CRASH_BEFORE_DISPATCH"])
    if chaos_crash and random.random() < chaos_crash:
        os.kill(os.getpid(), signal.SIGKILL)  # chaos: die between commit and dispatch
    copies = 2 if settings.EVENTHUB["CHAOS_DUPLICATE_DISPATCH"] else 1
    sent = 0
    ids = list(delivery_ids)
    for offset in range(0, len(ids), CLAIM_BATCH):
        token, claimed = _claim(ids[offset : offset + CLAIM_BATCH], release=release)
        messages = _messages(claimed)
        for index, (queue, rows) in enumerate(messages):
            first = next(c for c in claimed if c[0] == rows[0][0])
            try:
                # Sent while no span is current (the relay): a dispatch span linked to the
                # first delivery's event (trial merge: one span per message).
                with tracing.dispatch_span(
                    delivery_id=first[0],
                    subscriber=first[3],
                    attempt=first[4] + 1,
                    event_type=first[5],
                    trace_context=first[6],
                ):
                    for _ in range(copies):
                        _send(queue, rows)
            except Exception as exc:  # the broker is down or unreachable: the relay retries
                unsent = [row[0] for _, later in messages[index:] for row in later]
                _release(token, unsent)
                log.warning(
                    "broker unavailable, %d deliveries left to the relay: %s", len(unsent), exc
                )
                return sent
            sent += len(rows)
    return sent
