"""Running one attempt of a delivery: claim, decode, handle, record, retry or dead-letter.

A successful attempt is one transaction: the claim (a conditional UPDATE on the delivery
row guarded by the dispatch number, pending/retrying -> succeeded, attempts + 1), the
idempotency record of an effectively-once subscriber, the handler's writes and the attempt
record commit together or not at all. A duplicate or stale message is a no-op: on
PostgreSQL the claim's row lock makes a duplicate wait and then find the row succeeded; on
SQLite the write lock serialises them. Inside that transaction, after the claim, the start
is counted in Redis (``starts``): a process that dies mid-handler leaves nothing in the
database, and the next start records the starts that never got an outcome as lost attempts,
dead-lettering the delivery (without running it) once they reach its max attempts. A failed
attempt rolls everything back and is recorded, with its worker, duration, error and
traceback, in a transaction of its own.

Both claims refuse a delivery whose subscriber is paused (``holds``): the worker then puts
it back undispatched without counting an attempt ("held"), for the resume to send in
recorded order. The pause is a condition of the claim's own UPDATE, so it costs no extra
round trip on the path of a successful delivery.

At-most-once deliveries, deliveries whose subscriber has a fault switch on, and any delivery
while the start counter is unreachable take the leased path instead: the claim
(pending/retrying -> running, a lease) and the attempt record commit before the handler
runs, so a dead worker's attempt is on record for the relay to mark lost when the lease runs
out. (An injected latency then sleeps outside any transaction: on SQLite a transaction holds
the database's one write lock.)

A successful delivery is never seen "running" in the database (pending -> succeeded); its
start is announced to live pages at once (``live.delivery_running``), not after a commit.
"""

from __future__ import annotations

import logging
import os
import socket
import time
import traceback
from contextlib import ExitStack
from datetime import datetime, timedelta

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Exists, F, OuterRef
from django.utils import timezone

from .. import live, tracing
from ..faults import apply_fault
from ..models import Attempt, Delivery, Event, FaultRule, ProcessedEvent
from . import context, starts, subscribers
from .builtin_events import EventProcessingFailed, event_processing_failed
from .declarations import spec_for
from .dispatch import DISPATCHABLE
from .errors import EventValidationError, LeaseLost, NonRetryableError, UnknownSubscriber
from .fingerprints import fingerprint_of
from .holds import held_for_attempt
from .schema import from_wire
from .subscribers import Guarantee, Received, RetryPolicy

log = logging.getLogger(__name__)

LOST_ERROR = "WorkerLost: the attempt started but never recorded an outcome (its process died)"
LATE_COMMIT_SECONDS = 1.0
"""A success that took longer than this moves ``updated_at`` to its commit (live pages read
deliveries by ``updated_at``, with a lookback of a few seconds for late commits)."""


class _UseLease(Exception):
    """This attempt takes the leased path (at-most-once, a fault switch, no start counter)."""


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def decode(event: Event, *, attempt: int) -> Received:
    """The stored event as its handler sees it: upcast to the current version, typed."""
    spec = spec_for(event.event_type)
    data = spec.upcast(event.version, event.data)
    try:
        payload = from_wire(spec.payload, data)
    except EventValidationError as exc:
        raise NonRetryableError(f"stored event does not match its schema: {exc}") from exc
    return Received(
        event_id=str(event.event_id),
        event_type=event.event_type,
        version=spec.version,
        timestamp=event.timestamp,
        source=event.source,
        aggregate_id=event.aggregate_id,
        sequence=event.sequence,
        correlation_id=event.correlation_id,
        causation_id=str(event.causation_id) if event.causation_id else None,
        attempt=attempt,
        data=payload,
    )


def _claim_as(
    delivery_id: int, dispatch_seq: int, status: str, lease_expires_at: datetime | None
) -> bool:
    """Both claims' one statement: the conditional UPDATE that takes the delivery for this
    attempt (its dispatch number, dispatchable, attempts left, its subscriber not paused)."""
    return bool(
        Delivery.objects.filter(
            ~held_for_attempt(),
            pk=delivery_id,
            dispatch_seq=dispatch_seq,
            status__in=DISPATCHABLE,
            attempts__lt=F("max_attempts"),
        ).update(
            status=status,
            attempts=F("attempts") + 1,
            lease_expires_at=lease_expires_at,
            updated_at=timezone.now(),
        )
    )


def _claim(delivery_id: int, dispatch_seq: int, timeout: float) -> bool:
    """The claim of a leased attempt: running until its lease runs out."""
    lease = timezone.now() + timedelta(
        seconds=timeout + float(settings.EVENTHUB["LEASE_GRACE_SECONDS"])
    )
    return _claim_as(delivery_id, dispatch_seq, Delivery.Status.RUNNING, lease)


def _not_claimed(delivery_id: int, dispatch_seq: int) -> str:
    """Why a claim took nothing: "held" if the subscriber is paused (the delivery is put back
    undispatched, no attempt counted, for the resume to send in order), else "skipped" (a
    duplicate or stale message, or a delivery done meanwhile).

    Only a refused claim pays for this query. The put-back is guarded by the dispatch number
    and the pause, as the claim was: a delivery dispatched again, or a pause lifted, meanwhile
    is left alone.
    """
    held = Delivery.objects.filter(
        held_for_attempt(), pk=delivery_id, dispatch_seq=dispatch_seq, status__in=DISPATCHABLE
    ).update(dispatched_at=None)
    if held:
        log.info("delivery %s held: its subscriber is paused (not attempted)", delivery_id)
        return "held"
    return "skipped"


def _remember(subscriber: str, event_id: object, generation: int) -> bool:
    """Write the idempotency record; False if this subscriber already applied the event in
    this delivery generation (0: as recorded; n: its n-th replay, applied once more).

    One statement (``INSERT ... ON CONFLICT DO NOTHING RETURNING``, PostgreSQL and SQLite
    alike) instead of a savepoint, the INSERT and its release: a conflict inserts nothing and
    returns no row, and the transaction goes on.
    """
    table = connection.ops.quote_name(ProcessedEvent._meta.db_table)
    event_field = ProcessedEvent._meta.get_field("event_id")
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} (subscriber, event_id, generation, processed_at) "
            "VALUES (%s, %s, %s, %s) "
            "ON CONFLICT (subscriber, event_id, generation) DO NOTHING RETURNING id",
            [
                subscriber,
                event_field.get_db_prep_value(event_id, connection),
                generation,
                connection.ops.adapt_datetimefield_value(timezone.now()),
            ],
        )
        return cursor.fetchone() is not None


def _mark_succeeded(delivery: Delivery, attempt: Attempt) -> None:
    now = timezone.now()
    updated = Delivery.objects.filter(
        pk=delivery.pk, status=Delivery.Status.RUNNING, attempts=attempt.number
    ).update(status=Delivery.Status.SUCCEEDED, lease_expires_at=None, updated_at=now)
    if not updated:
        raise LeaseLost(f"delivery {delivery.pk} attempt {attempt.number} was taken over")
    Attempt.objects.filter(pk=attempt.pk).update(outcome=Attempt.Outcome.SUCCEEDED, finished_at=now)
    live.delivery_changed()


def execute(
    *, delivery_id: int, dispatch_seq: int, worker: str, subscriber: str | None = None
) -> str:
    """Run one attempt; returns what happened (for logs and tests), never raises for handlers.

    ``subscriber`` (sent along by the dispatcher) saves a lookup of the row; the lease comes
    from this worker's own settings.
    """
    if subscriber is None:
        subscriber = (
            Delivery.objects.filter(pk=delivery_id).values_list("subscriber", flat=True).first()
        )
        if subscriber is None:
            return "missing"
    sub = subscribers.get(subscriber)
    if sub is None or sub.guarantee is not Guarantee.AT_MOST_ONCE:
        try:
            return _execute_at_once(delivery_id, dispatch_seq, worker)
        except _UseLease:
            pass
    return _execute_leased(delivery_id, dispatch_seq, worker, subscriber)


def _claim_to_success(delivery_id: int, dispatch_seq: int) -> bool:
    """The claim of a one-transaction attempt: straight to succeeded, undone by a rollback."""
    return _claim_as(delivery_id, dispatch_seq, Delivery.Status.SUCCEEDED, None)


def _claimed(delivery_id: int) -> Delivery:
    # Whether a fault rule is on comes with the row: no query of its own per delivery.
    return (
        Delivery.objects.select_related("event")
        .annotate(
            fault_on=Exists(
                FaultRule.objects.filter(subscriber=OuterRef("subscriber"), enabled=True)
            )
        )
        .get(pk=delivery_id)
    )


def _linked_only(delivery: Delivery) -> bool:
    """An operator's retry or a replay runs in a trace of its own, linked to the original."""
    return delivery.retried_at is not None or delivery.generation > 0


def _record_lost(delivery: Delivery, first: int, last: int) -> None:
    """Attempts ``first``..``last`` started and died without an outcome (worker unknown)."""
    now = timezone.now()
    Attempt.objects.bulk_create(
        Attempt(
            delivery=delivery,
            number=number,
            worker="unknown",
            started_at=now,
            finished_at=now,
            outcome=Attempt.Outcome.LOST,
            error=LOST_ERROR,
        )
        for number in range(first, last + 1)
    )


def _resume_after_lost(delivery: Delivery, start: int) -> str | None:
    """Record the starts before ``start`` that died; an outcome if this one must not run.

    ``delivery`` is claimed (``attempts`` counts this start as number ``recorded + 1``).
    Once the lost starts use up the delivery's attempts it is dead-lettered: never run again.
    """
    recorded = delivery.attempts - 1
    last_lost = min(start - 1, delivery.max_attempts)
    if last_lost < delivery.max_attempts:
        _record_lost(delivery, recorded + 1, last_lost)
        Delivery.objects.filter(pk=delivery.pk).update(attempts=start)
        delivery.attempts = start
        return None
    _record_lost(delivery, recorded + 1, last_lost)
    Delivery.objects.filter(pk=delivery.pk).update(
        status=Delivery.Status.RUNNING, attempts=last_lost
    )
    return fail_attempt(
        delivery_id=delivery.pk,
        attempt_number=last_lost,
        error=LOST_ERROR,
        outcome=Attempt.Outcome.LOST,
    )


def _execute_at_once(delivery_id: int, dispatch_seq: int, worker: str) -> str:
    """One transaction for claim, handler and records; a failure recorded after the rollback.

    Whatever fails once the start is counted (the handler, a write, the commit) rolls the
    attempt back and is recorded as its failure.
    """
    started_at = timezone.now()
    clock = time.monotonic()
    start: int | None = None
    span = None
    with ExitStack() as span_scope:  # the span ends after the commit, or after the failure
        try:
            with transaction.atomic():
                if not _claim_to_success(delivery_id, dispatch_seq):
                    return _not_claimed(delivery_id, dispatch_seq)
                delivery = _claimed(delivery_id)
                if delivery.guarantee == Guarantee.AT_MOST_ONCE or delivery.fault_on:
                    raise _UseLease
                start = starts.record_start(delivery, recorded=delivery.attempts - 1)
                if start is None:
                    raise _UseLease
                if start > delivery.attempts and (outcome := _resume_after_lost(delivery, start)):
                    return outcome
                live.delivery_running()
                span = span_scope.enter_context(
                    tracing.process_span(delivery, link_only=_linked_only(delivery))
                )
                _handle(delivery)
                Attempt.objects.create(
                    delivery=delivery,
                    number=start,
                    worker=worker,
                    started_at=started_at,
                    finished_at=timezone.now(),
                    outcome=Attempt.Outcome.SUCCEEDED,
                )
                if time.monotonic() - clock > LATE_COMMIT_SECONDS:
                    Delivery.objects.filter(pk=delivery.pk).update(updated_at=timezone.now())
                live.delivery_changed()
        except _UseLease:
            raise
        except Exception as exc:
            if start is None:
                raise
            if span is not None:
                tracing.record_failure(span, exc)
            return _record_failure(
                delivery_id=delivery_id,
                dispatch_seq=dispatch_seq,
                start=start,
                started_at=started_at,
                worker=worker,
                error=f"{type(exc).__name__}: {exc}",
                tb=traceback.format_exc(),
                retryable=not isinstance(exc, NonRetryableError),
            )
    return "succeeded"


def _handle(delivery: Delivery) -> None:
    """Decode the event and run its handler (with the idempotency record, if any)."""
    name = delivery.subscriber
    sub = subscribers.get(name)
    if sub is None:
        raise UnknownSubscriber(f"no subscriber named {name} is registered")
    event = delivery.event
    received = decode(event, attempt=delivery.attempts)
    if delivery.fault_on:
        apply_fault(sub.name)
    with context.bound(correlation_id=event.correlation_id, causation_id=str(event.event_id)):
        if sub.guarantee is not Guarantee.EFFECTIVELY_ONCE or _remember(
            sub.name, event.event_id, delivery.generation
        ):
            sub.handler(received)


def _record_failure(
    *,
    delivery_id: int,
    dispatch_seq: int,
    start: int,
    started_at: datetime,
    worker: str,
    error: str,
    tb: str,
    retryable: bool,
) -> str:
    """After the rollback: record start ``start`` as a failed attempt (and any lost before it).

    "lease-lost" when another start of the delivery recorded an outcome meanwhile (it
    counted this one as lost) or a newer dispatch took it over.
    """
    with transaction.atomic():
        delivery = (
            Delivery.objects.select_for_update()
            .filter(pk=delivery_id, dispatch_seq=dispatch_seq, status__in=DISPATCHABLE)
            .first()
        )
        if delivery is None or delivery.attempts >= start or start > delivery.max_attempts:
            return "lease-lost"
        _record_lost(delivery, delivery.attempts + 1, start - 1)
        Delivery.objects.filter(pk=delivery_id).update(
            status=Delivery.Status.RUNNING, attempts=start
        )
        Attempt.objects.create(
            delivery=delivery, number=start, worker=worker, started_at=started_at
        )
        return fail_attempt(
            delivery_id=delivery_id, attempt_number=start, error=error, tb=tb, retryable=retryable
        )


def _execute_leased(delivery_id: int, dispatch_seq: int, worker: str, subscriber: str) -> str:
    """The attempt with its claim committed first: at-most-once, or no start counter."""
    timeout = subscribers.timeout_of(subscribers.get(subscriber))
    # The claim and its attempt row commit together: a worker killed right after the claim
    # still leaves the attempt on record, for the relay to mark lost.
    with transaction.atomic():
        if not _claim(delivery_id, dispatch_seq, timeout):
            return _not_claimed(delivery_id, dispatch_seq)
        delivery = _claimed(delivery_id)
        attempt = Attempt.objects.create(
            delivery=delivery, number=delivery.attempts, worker=worker, started_at=timezone.now()
        )
        live.delivery_changed()
    name = delivery.subscriber
    sub = subscribers.get(name)
    event = delivery.event
    with tracing.process_span(delivery, link_only=_linked_only(delivery)) as span:
        try:
            if sub is None:
                raise UnknownSubscriber(f"no subscriber named {name} is registered")
            received = decode(event, attempt=attempt.number)
            if delivery.fault_on:
                apply_fault(sub.name)
            with (
                context.bound(
                    correlation_id=event.correlation_id, causation_id=str(event.event_id)
                ),
                transaction.atomic(),
            ):
                if sub.guarantee is not Guarantee.EFFECTIVELY_ONCE or _remember(
                    sub.name, event.event_id, delivery.generation
                ):
                    sub.handler(received)
                _mark_succeeded(delivery, attempt)
        except LeaseLost as exc:
            log.warning("%s", exc)
            return "lease-lost"
        except Exception as exc:
            tracing.record_failure(span, exc)
            return fail_attempt(
                delivery_id=delivery.pk,
                attempt_number=attempt.number,
                error=f"{type(exc).__name__}: {exc}",
                tb=traceback.format_exc(),
                retryable=not isinstance(exc, NonRetryableError),
            )
    return "succeeded"


def fail_attempt(
    *,
    delivery_id: int,
    attempt_number: int,
    error: str,
    tb: str = "",
    retryable: bool = True,
    outcome: str = Attempt.Outcome.FAILED,
) -> str:
    """Record a failed (or lost) attempt and schedule the next one, or dead-letter."""
    now = timezone.now()
    with transaction.atomic():
        delivery = Delivery.objects.select_for_update().select_related("event").get(pk=delivery_id)
        if delivery.status != Delivery.Status.RUNNING or delivery.attempts != attempt_number:
            return "lease-lost"
        Attempt.objects.filter(delivery=delivery, number=attempt_number).update(
            outcome=outcome, finished_at=now, error=error[:10_000], traceback=tb[:50_000]
        )
        sub = subscribers.get(delivery.subscriber)
        policy = sub.retry if sub else RetryPolicy()
        delivery.last_error = error[:10_000]
        delivery.error_type = error.split(":", 1)[0][:200]
        delivery.fingerprint = fingerprint_of(error, tb)
        delivery.lease_expires_at = None
        if delivery.guarantee == Guarantee.AT_MOST_ONCE:
            delivery.status = Delivery.Status.FAILED
        elif retryable and delivery.attempts < delivery.max_attempts:
            delay = policy.delay_after(
                delivery.attempts, scale=float(settings.EVENTHUB["RETRY_DELAY_SCALE"])
            )
            delivery.status = Delivery.Status.RETRYING
            delivery.next_attempt_at = now + timedelta(seconds=delay)
            delivery.dispatched_at = None
        else:
            delivery.status = Delivery.Status.DEAD
            delivery.dead_at = now
            _publish_dead_letter(delivery, error)
        delivery.save()
        live.delivery_changed()
    _log_failure(delivery, error)
    return str(delivery.status)


def _log_failure(delivery: Delivery, error: str) -> None:
    """One line per failed attempt (WARNING) and per dead letter (ERROR), once committed.

    Celery's own line for the task says ``succeeded ... 'retrying'``: the task ran, the
    delivery did not, and the operator reading the worker's log must see which.
    """
    event = delivery.event
    where = (
        f"{delivery.subscriber}: attempt {delivery.attempts}/{delivery.max_attempts} "
        f"of event {event.event_type} {event.event_id} (delivery {delivery.pk})"
    )
    if delivery.status == Delivery.Status.DEAD:
        why = "no attempts left" if delivery.attempts >= delivery.max_attempts else "not retryable"
        log.error("dead letter (%s): %s: %s", why, where, error)
    elif delivery.status == Delivery.Status.RETRYING:
        assert delivery.next_attempt_at is not None
        wait = max((delivery.next_attempt_at - timezone.now()).total_seconds(), 0.0)
        log.warning("attempt failed, retrying in %.1f s: %s: %s", wait, where, error)
    else:
        log.warning("attempt failed, not retried (%s): %s: %s", delivery.guarantee, where, error)


def _publish_dead_letter(delivery: Delivery, error: str) -> None:
    event = delivery.event
    with context.bound(correlation_id=event.correlation_id, causation_id=str(event.event_id)):
        event_processing_failed.send(
            sender=Delivery,
            event=EventProcessingFailed(
                delivery_id=delivery.pk,
                original_event_id=str(event.event_id),
                original_event_type=event.event_type,
                subscriber=delivery.subscriber,
                error=error[:2000],
                attempts=delivery.attempts,
                failed_at=int(time.time() * 1000),
            ),
        )
