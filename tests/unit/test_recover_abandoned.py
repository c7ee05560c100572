"""``relay.recover_abandoned``: a leased attempt whose lease ran out (its worker is gone) is
recorded as lost and the delivery retried, dead-lettered or failed as its guarantee says;
an attempt still within its lease, or a delivery not running, is left alone.

Plain ``django_db`` tests: nothing commits, so nothing is dispatched to a broker.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from eventhub.bus.relay import recover_abandoned
from eventhub.models import Attempt, Delivery, Event
from tests.unit.rows import stored_event

pytestmark = pytest.mark.django_db

MAIL = "notifications.order_confirmation"  # the default retry policy: 1 s, x2, +-25 %
COUNTER = "orders.count_outcomes"  # at-most-once


def leased(
    *, lease_left: float, attempts: int = 1, subscriber: str = MAIL, **fields: object
) -> Delivery:
    """A delivery running attempt ``attempts`` under a lease ending ``lease_left`` s from now."""
    now = timezone.now()
    delivery = Delivery.objects.create(
        event=stored_event(correlation_id="lease"),
        subscriber=subscriber,
        queue="notifications",
        guarantee="at-most-once" if subscriber == COUNTER else "effectively-once",
        status=fields.pop("status", Delivery.Status.RUNNING),
        attempts=attempts,
        max_attempts=1 if subscriber == COUNTER else 5,
        next_attempt_at=now - timedelta(minutes=1),
        dispatched_at=now - timedelta(minutes=1),
        lease_expires_at=now + timedelta(seconds=lease_left),
        **fields,
    )
    Attempt.objects.create(
        delivery=delivery, number=attempts, worker="gone:1", started_at=now - timedelta(minutes=1)
    )
    return delivery


def test_an_attempt_past_its_lease_is_recorded_lost_and_the_delivery_retried(settings):
    settings.EVENTHUB = {**settings.EVENTHUB, "RETRY_DELAY_SCALE": 1.0}
    delivery = leased(lease_left=-1)
    before = timezone.now()

    assert recover_abandoned() == 1

    delivery.refresh_from_db()
    after = timezone.now()
    assert delivery.status == Delivery.Status.RETRYING
    assert delivery.attempts == 1 and delivery.lease_expires_at is None
    assert delivery.dispatched_at is None  # the relay dispatches it when due
    assert before + timedelta(seconds=0.75) <= delivery.next_attempt_at
    assert delivery.next_attempt_at <= after + timedelta(seconds=1.25)
    assert delivery.last_error.startswith("WorkerLost: ")
    attempt = Attempt.objects.get(delivery=delivery, number=1)
    assert attempt.outcome == Attempt.Outcome.LOST
    assert attempt.finished_at is not None and attempt.error == delivery.last_error


def test_an_attempt_within_its_lease_is_left_running():
    delivery = leased(lease_left=30)
    assert recover_abandoned() == 0
    delivery.refresh_from_db()
    assert delivery.status == Delivery.Status.RUNNING
    assert Attempt.objects.get(delivery=delivery).outcome == Attempt.Outcome.RUNNING


def test_a_lost_last_attempt_dead_letters_the_delivery_and_publishes_the_failure():
    delivery = leased(lease_left=-1, attempts=5)
    assert recover_abandoned() == 1
    delivery.refresh_from_db()
    assert delivery.status == Delivery.Status.DEAD and delivery.dead_at is not None
    failed = Event.objects.get(event_type="event.processing.failed")
    assert failed.data["deliveryId"] == delivery.pk
    assert failed.data["attempts"] == 5
    assert failed.data["error"].startswith("WorkerLost: ")
    assert failed.correlation_id == delivery.event.correlation_id


def test_a_lost_at_most_once_attempt_fails_and_is_never_retried():
    delivery = leased(lease_left=-1, subscriber=COUNTER)
    assert recover_abandoned() == 1
    delivery.refresh_from_db()
    assert delivery.status == Delivery.Status.FAILED
    assert not Event.objects.filter(event_type="event.processing.failed").exists()


def test_only_running_deliveries_are_recovered_whatever_lease_they_still_carry():
    finished = leased(lease_left=-1, status=Delivery.Status.SUCCEEDED)
    waiting = leased(lease_left=-1, status=Delivery.Status.RETRYING)
    lost = leased(lease_left=-1)
    assert recover_abandoned() == 1
    statuses = dict(
        Delivery.objects.filter(pk__in=[finished.pk, waiting.pk, lost.pk]).values_list(
            "pk", "status"
        )
    )
    assert statuses == {
        finished.pk: Delivery.Status.SUCCEEDED,
        waiting.pk: Delivery.Status.RETRYING,
        lost.pk: Delivery.Status.RETRYING,
    }
    assert recover_abandoned() == 0  # recovered once: its lease is gone
