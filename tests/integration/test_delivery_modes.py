"""Delivery modes and guarantees (seed 2.2, 2.3): competing workers take each delivery once,
an event reaches every subscriber, and an at-most-once subscriber is tried once."""

from __future__ import annotations

from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.db import connection

from eventhub.bus import subscribers
from eventhub.models import Attempt, Delivery, Event, FaultRule
from inventory.models import Reservation
from notifications.models import Notification
from orders.models import Order, OrderCount, SagaStep
from orders.payments.models import Payment
from tests.conftest import wait_until
from tests.integration.flows import SEED_ORDER, UNFINISHED, events_of, place_order, wait_for_flow

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


def _place(_: int) -> dict:
    try:
        return place_order(SEED_ORDER)
    finally:
        connection.close()


def test_two_workers_on_the_same_queues_handle_each_delivery_exactly_once(start_worker, relay):
    workers = [start_worker(concurrency=2), start_worker(concurrency=2)]
    with ThreadPoolExecutor(max_workers=4) as pool:
        orders = list(pool.map(_place, range(20)))
    wait_until(
        lambda: (
            not Order.objects.filter(status=Order.Status.PENDING).exists()
            and not Delivery.objects.filter(status__in=UNFINISHED).exists()
        ),
        timeout=120,
        interval=0.2,
        message="all 20 orders to finish",
    )
    assert set(Order.objects.values_list("status", flat=True)) == {Order.Status.CONFIRMED}

    # Exactly once: one attempt per delivery, and it succeeded.
    deliveries = Delivery.objects.all()
    assert deliveries.count() >= 10 * len(orders)  # 10 per confirmed order
    assert set(deliveries.values_list("status", "attempts")) == {(Delivery.Status.SUCCEEDED, 1)}
    assert Attempt.objects.count() == deliveries.count()
    # ... and their effects once: per order two reservations, one payment, three mails.
    assert Reservation.objects.count() == 2 * len(orders)
    assert Payment.objects.count() == len(orders)
    assert Counter(Notification.objects.values_list("order_id", flat=True)) == {
        o["orderId"]: 3 for o in orders
    }
    # Both workers competed for the queues.
    pids = [set(w.pids()) for w in workers]
    taken_by = Counter(
        next(i for i, owned in enumerate(pids) if int(worker.rsplit(":", 1)[1]) in owned)
        for worker in Attempt.objects.values_list("worker", flat=True)
    )
    assert set(taken_by) == {0, 1}, taken_by


def test_an_event_with_three_subscribers_reaches_all_three(worker, relay):
    expected = {"payments.authorize_payment", "notifications.stock_confirmed"}
    expected |= {"orders.record_saga_step"}
    assert {s.name for s in subscribers.for_event_type("inventory.updated")} == expected

    order = place_order(SEED_ORDER)
    wait_for_flow(order)
    [updated] = [
        e for e in events_of(order["correlationId"]) if e.event_type == "inventory.updated"
    ]
    deliveries = Delivery.objects.filter(event=updated)
    assert dict(deliveries.values_list("subscriber", "status")) == dict.fromkeys(
        expected, Delivery.Status.SUCCEEDED
    )
    # Each of the three did its own work with the same event.
    payment_event = Event.objects.get(
        correlation_id=order["correlationId"], event_type="payment.authorized"
    )
    assert payment_event.causation_id == updated.event_id
    assert Notification.objects.filter(kind="stock_confirmed", event_id=updated.event_id).exists()
    step = SagaStep.objects.get(order_id=order["orderId"], name="reserve_stock")
    assert int(step.done_at.timestamp() * 1000) == updated.timestamp


def test_a_failing_at_most_once_subscriber_is_tried_once_and_recorded_as_failed(worker, relay):
    counter = "orders.count_outcomes"
    assert subscribers.get(counter).guarantee == "at-most-once"
    FaultRule.objects.create(subscriber=counter, enabled=True, mode=FaultRule.Mode.ALWAYS)

    order = place_order(SEED_ORDER)
    assert wait_for_flow(order).status == Order.Status.CONFIRMED  # the saga is unaffected

    counted = Delivery.objects.filter(subscriber=counter)
    assert counted.count() == 1  # its one order.status.updated
    for delivery in counted:
        assert (delivery.status, delivery.attempts, delivery.max_attempts) == ("failed", 1, 1)
        assert delivery.dead_at is None and delivery.next_attempt_at <= delivery.updated_at
        [attempt] = delivery.attempt_log.all()
        assert attempt.outcome == Attempt.Outcome.FAILED and "fault injected" in attempt.error
    assert not Event.objects.filter(event_type="event.processing.failed").exists()
    assert not OrderCount.objects.exists()
    # Every other subscriber succeeded; nothing is left to retry.
    others = Delivery.objects.exclude(subscriber=counter)
    assert set(others.values_list("status", flat=True)) == {Delivery.Status.SUCCEEDED}
    assert not Delivery.objects.filter(status__in=UNFINISHED).exists()
