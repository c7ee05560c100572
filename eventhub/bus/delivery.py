"""Running one attempt of a delivery: claim, decode, handle, record, retry or dead-letter.

The claim is a conditional UPDATE on the delivery row (status pending/retrying -> running,
attempts + 1, a lease) guarded by the dispatch number, so a duplicate or stale message is a
no-op. The handler runs in one transaction with, for effectively-once subscribers, the
idempotency record, and with the success mark fenced on the attempt number: if the lease
was taken over meanwhile, the handler's writes roll back.
"""

from __future__ import annotations

import logging
import os
import socket
import time
import traceback
from datetime import timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Exists, F, OuterRef
from django.utils import timezone

from .. import live, tracing
from ..faults import apply_fault
from ..models import Attempt, Delivery, Event, FaultRule, ProcessedEvent
from . import context, subscribers
from .builtin_events import EventProcessingFailed, event_processing_failed
from .declarations import spec_for
from .errors import EventValidationError, LeaseLost, NonRetryableError, UnknownSubscriber
from .fingerprints import fingerprint_of
from .schema import from_wire
from .subscribers import Guarantee, Received, RetryPolicy

log = logging.getLogger(__name__)

DISPATCHABLE = (Delivery.Status.PENDING, Delivery.Status.RETRYING)


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


def _claim(delivery_id: int, dispatch_seq: int, timeout: float) -> bool:
    lease = timezone.now() + timedelta(
        seconds=timeout + float(settings.EVENTHUB["LEASE_GRACE_SECONDS"])
    )
    return bool(
        Delivery.objects.filter(
            pk=delivery_id,
            dispatch_seq=dispatch_seq,
            status__in=DISPATCHABLE,
            attempts__lt=F("max_attempts"),
        ).update(
            status=Delivery.Status.RUNNING,
            attempts=F("attempts") + 1,
            lease_expires_at=lease,
            updated_at=timezone.now(),
        )
    )


def _remember(subscriber: str, event_id: object) -> bool:
    """Write the idempotency record; False if this subscriber already applied the event."""
    try:
        with transaction.atomic():
            ProcessedEvent.objects.create(subscriber=subscriber, event_id=event_id)
    except IntegrityError:
        return False
    return True


def _mark_succeeded(delivery: Delivery, attempt: Attempt) -> None:
    now = timezone.now()
    updated = Delivery.objects.filter(
        pk=delivery.pk, status=Delivery.Status.RUNNING, attempts=attempt.number
    ).update(status=Delivery.Status.SUCCEEDED, lease_expires_at=None, updated_at=now)
    if not updated:
        raise LeaseLost(f"delivery {delivery.pk} attempt {attempt.number} was taken over")
    Attempt.objects.filter(pk=attempt.pk).update(outcome=Attempt.Outcome.SUCCEEDED, finished_at=now)
    live.delivery_changed(
        delivery_id=delivery.pk,
        status=Delivery.Status.SUCCEEDED,
        correlation_id=delivery.event.correlation_id,
    )


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
    timeout = subscribers.timeout_of(subscribers.get(subscriber))
    # The claim and its attempt row commit together: a worker killed right after the claim
    # still leaves the attempt on record, for the relay to mark lost.
    with transaction.atomic():
        if not _claim(delivery_id, dispatch_seq, timeout):
            return "skipped"
        # Whether a fault rule is on comes with the row: no query of its own per delivery.
        delivery = (
            Delivery.objects.select_related("event")
            .annotate(
                fault_on=Exists(
                    FaultRule.objects.filter(subscriber=OuterRef("subscriber"), enabled=True)
                )
            )
            .get(pk=delivery_id)
        )
        attempt = Attempt.objects.create(
            delivery=delivery, number=delivery.attempts, worker=worker, started_at=timezone.now()
        )
        live.delivery_changed(
            delivery_id=delivery.pk,
            status=delivery.status,
            correlation_id=delivery.event.correlation_id,
        )
    name = delivery.subscriber
    sub = subscribers.get(name)
    event = delivery.event
    with tracing.process_span(delivery, link_only=delivery.retried_at is not None) as span:
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
                    sub.name, event.event_id
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
        live.delivery_changed(
            delivery_id=delivery.pk,
            status=delivery.status,
            correlation_id=delivery.event.correlation_id,
        )
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
