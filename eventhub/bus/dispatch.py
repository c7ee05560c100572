"""Handing deliveries to the broker, at most one dispatch in flight per delivery.

Deliveries are claimed for dispatch by one conditional UPDATE per batch (``dispatched_at``
from NULL to now, ``dispatch_seq`` + 1, a fresh ``dispatch_token`` to read back what this
call won), so that any number of web processes and relays can race for the
same rows and exactly one of them enqueues it. The task carries ``dispatch_seq``: a message
left over from an earlier dispatch finds a different number and does nothing.

On PostgreSQL a claim made outside any transaction (the after-commit hand-off, the relay)
commits without waiting for its WAL flush (``synchronous_commit`` off for that statement's own
transaction; 5-6 ms a claim on the loaded benchmark machine, 0.2-0.4 ms without). What that
risks is a claim forgotten by a database *server* crash in the fraction of a second before the
WAL writer flushes it (a later synchronous commit, such as the delivery's own, flushes it
too): the row is then undispatched again and the relay sends it once more with the same
dispatch number. The worker copes with a duplicate message already: a delivery that
succeeded skips it, and one whose attempt failed may run its retry early (without the backoff
wait, still counted against its max attempts). The chaos suite's duplicate-dispatch scenario
sends every message twice and finds nothing lost or applied twice.

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
from django.db import DEFAULT_DB_ALIAS, connection
from django.db.models import F
from django.db.models.sql import UpdateQuery
from django.utils import timezone

from .. import tracing
from ..celery import app
from ..models import Delivery, Event
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


Claimed = tuple[int, int, str, str, int, int]
"""A claimed row: (delivery id, dispatch number, queue, subscriber, attempts, event id)."""
CLAIMED_COLUMNS = ("id", "dispatch_seq", "queue", "subscriber", "attempts", "event_id")


def _claim(delivery_ids: list[int], *, release: bool) -> tuple[uuid.UUID, list[Claimed]]:
    """Claim every still-undispatched delivery among ``delivery_ids``: one UPDATE that also
    returns what it won (``RETURNING``, PostgreSQL and SQLite alike), no read-back.

    A paused subscriber's deliveries are left out (``holds``); so are a resuming one's,
    unless this is the relay's paced ``release`` of its backlog.
    """
    token = uuid.uuid4()
    held = held_for_attempt() if release else held_for_dispatch()
    claim = Delivery.objects.filter(
        ~held, pk__in=delivery_ids, dispatched_at__isnull=True, status__in=DISPATCHABLE
    ).query.chain(UpdateQuery)
    claim.add_update_values(
        {
            "dispatched_at": timezone.now(),
            "dispatch_seq": F("dispatch_seq") + 1,
            "dispatch_token": token,
        }
    )
    sql, params = claim.get_compiler(using=DEFAULT_DB_ALIAS).as_sql()
    returning = ", ".join(connection.ops.quote_name(c) for c in CLAIMED_COLUMNS)
    prefix = _no_flush_wait()
    with connection.cursor() as cursor:
        cursor.execute(f"{prefix}{sql} RETURNING {returning}", params)
        if prefix:
            cursor.nextset()  # past the SET's empty result
        rows = cursor.fetchall()
    # A batch runs in the order its events were recorded.
    return token, sorted((tuple(row) for row in rows), key=lambda row: row[0])  # type: ignore[misc]


def _no_flush_wait() -> str:
    """``SET LOCAL synchronous_commit TO off; `` where the claim may skip its WAL flush wait.

    PostgreSQL, in autocommit (inside a caller's transaction it would make the caller's commit
    asynchronous too), with client-side binding (Django's default for psycopg 3: several
    statements in one query string then run as one implicit transaction, in one round trip).
    """
    if (
        connection.vendor != "postgresql"
        or connection.in_atomic_block
        or connection.settings_dict.get("OPTIONS", {}).get("server_side_binding")
    ):
        return ""
    return "SET LOCAL synchronous_commit TO off; "


def _span_sources(claimed: list[Claimed]) -> dict[int, tuple[str, dict[str, str]]]:
    """Event type and trace context of the claimed rows' events, for their dispatch spans:
    read only when such a span is made (tracing on and no span current, i.e. the relay)."""
    if not tracing.dispatch_span_wanted():
        return {}
    return {
        pk: (event_type, trace_context)
        for pk, event_type, trace_context in Event.objects.filter(
            pk__in={row[5] for row in claimed}
        ).values_list("pk", "event_type", "trace_context")
    }


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
        sources = _span_sources(claimed)
        for index, (queue, rows) in enumerate(messages):
            first = next(c for c in claimed if c[0] == rows[0][0])
            event_type, trace_context = sources.get(first[5], ("", {}))
            try:
                # Sent while no span is current (the relay): a dispatch span linked to the
                # first delivery's event (trial merge: one span per message).
                with tracing.dispatch_span(
                    delivery_id=first[0],
                    subscriber=first[3],
                    attempt=first[4] + 1,
                    event_type=event_type,
                    trace_context=trace_context,
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
