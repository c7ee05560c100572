"""A handler that keeps failing is retried with growing delays, then dead-lettered."""

from __future__ import annotations

import pytest

from eventhub.bus import subscribers
from eventhub.models import Attempt, Delivery, Event, FaultRule
from orders.models import Order
from tests.conftest import wait_until
from tests.integration.flows import SEED_ORDER, events_of, place_order, stock, wait_for_flow

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

SCALE = 0.25
FAILING = "notifications.order_confirmation"


def test_an_always_failing_handler_is_dead_lettered_after_its_max_attempts(start_worker, relay):
    start_worker(EVENTHUB_RETRY_DELAY_SCALE=str(SCALE))
    FaultRule.objects.create(subscriber=FAILING, enabled=True, mode=FaultRule.Mode.ALWAYS)
    policy = subscribers.get(FAILING).retry

    order = place_order(SEED_ORDER)
    assert wait_for_flow(order).status == Order.Status.CONFIRMED  # the siblings carry on

    failing = Delivery.objects.get(event__correlation_id=order["correlationId"], subscriber=FAILING)
    assert failing.status == Delivery.Status.DEAD
    assert failing.attempts == policy.max_attempts
    attempts = list(Attempt.objects.filter(delivery=failing).order_by("number"))
    assert [a.number for a in attempts] == list(range(1, policy.max_attempts + 1))
    assert all(a.outcome == Attempt.Outcome.FAILED for a in attempts)
    assert all("fault injected" in a.error and "InjectedFault" in a.traceback for a in attempts)

    # Each wait is at least the policy's delay for that attempt, jitter included: they grow.
    gaps = [
        (later.started_at - earlier.finished_at).total_seconds()
        for earlier, later in zip(attempts, attempts[1:], strict=False)
    ]
    minimum = [
        policy.base_delay * policy.factor ** (n - 1) * SCALE * (1 - policy.jitter)
        for n in range(1, policy.max_attempts)
    ]
    assert all(gap >= low for gap, low in zip(gaps, minimum, strict=True)), (gaps, minimum)
    assert gaps[-1] > gaps[0] * 2, gaps

    siblings = Delivery.objects.filter(event__correlation_id=order["correlationId"]).exclude(
        subscriber=FAILING
    )
    assert set(siblings.values_list("status", flat=True)) == {Delivery.Status.SUCCEEDED}
    assert stock("PROD-001") == 98

    [dead_letter] = [
        e for e in events_of(order["correlationId"]) if e.event_type == "event.processing.failed"
    ]
    created = Event.objects.get(correlation_id=order["correlationId"], event_type="order.created")
    assert dead_letter.causation_id == created.event_id
    assert dead_letter.data["subscriber"] == FAILING
    assert dead_letter.data["originalEventId"] == str(created.event_id)
    assert dead_letter.data["attempts"] == policy.max_attempts
    assert "fault injected" in dead_letter.data["error"]


def test_a_handler_failing_twice_then_succeeds_on_the_third_attempt(start_worker, relay):
    start_worker(EVENTHUB_RETRY_DELAY_SCALE="0.05")
    FaultRule.objects.create(
        subscriber=FAILING, enabled=True, mode=FaultRule.Mode.NEXT_N, remaining=2
    )
    order = place_order(SEED_ORDER)
    wait_for_flow(order)
    delivery = Delivery.objects.get(
        event__correlation_id=order["correlationId"], subscriber=FAILING
    )
    assert delivery.status == Delivery.Status.SUCCEEDED
    assert list(delivery.attempt_log.values_list("outcome", flat=True)) == [
        "failed",
        "failed",
        "succeeded",
    ]
    assert not Event.objects.filter(event_type="event.processing.failed").exists()


def test_an_unsupported_event_version_is_dead_lettered_after_one_attempt(worker, relay):
    from django.db import transaction

    from eventhub.bus import dispatch

    order = place_order(SEED_ORDER)
    wait_for_flow(order)
    created = Event.objects.get(correlation_id=order["correlationId"], event_type="order.created")
    with transaction.atomic():
        Event.objects.filter(pk=created.pk).update(version=99)
        Delivery.objects.filter(event=created).update(
            status=Delivery.Status.PENDING, dispatched_at=None, max_attempts=5
        )
    ids = list(Delivery.objects.filter(event=created).values_list("pk", flat=True))
    dispatch.dispatch(ids)
    wait_until(
        lambda: (
            set(Delivery.objects.filter(event=created).values_list("status", flat=True))
            == {Delivery.Status.DEAD}
        ),
        message="every delivery of the v99 event to be dead",
    )
    for delivery in Delivery.objects.filter(event=created):
        assert delivery.attempts == 2  # the first run at version 1, then one try at 99
        assert "version 99 is not supported" in delivery.last_error
        assert delivery.attempt_log.get(number=2).outcome == "failed"
