"""Duplicates change nothing: a delivery executed twice applies its effects once."""

from __future__ import annotations

import pytest

from eventhub.bus.tasks import deliver
from eventhub.models import Attempt, Delivery, ProcessedEvent
from inventory.models import Reservation
from notifications.models import Notification
from tests.conftest import wait_until
from tests.integration.flows import SEED_ORDER, place_order, stock, wait_for_flow

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


def _reserve_delivery(order: dict) -> Delivery:
    return Delivery.objects.get(
        event__correlation_id=order["correlationId"],
        event__event_type="order.created",
        subscriber="inventory.reserve_stock",
    )


def test_a_delivery_executed_twice_changes_stock_once(worker, relay):
    order = place_order(SEED_ORDER)
    wait_for_flow(order)
    assert stock("PROD-001") == 98
    delivery = _reserve_delivery(order)

    # Redeliver the same event to the same subscriber, as a broker redelivery would.
    Delivery.objects.filter(pk=delivery.pk).update(
        status=Delivery.Status.PENDING, dispatched_at=None, max_attempts=5
    )
    wait_until(
        lambda: (
            Delivery.objects.get(pk=delivery.pk).status == Delivery.Status.SUCCEEDED
            and Delivery.objects.get(pk=delivery.pk).attempts == 2
        ),
        message="the redelivery to run",
    )

    assert stock("PROD-001") == 98
    assert stock("PROD-003") == 199
    assert Reservation.objects.filter(order_id=order["orderId"]).count() == 2
    assert (
        ProcessedEvent.objects.filter(
            subscriber="inventory.reserve_stock", event_id=delivery.event.event_id
        ).count()
        == 1
    )
    assert Attempt.objects.filter(delivery=delivery).count() == 2


def test_the_same_message_sent_twice_at_once_runs_one_attempt(start_worker, relay):
    start_worker(concurrency=2)
    start_worker(concurrency=2)
    order = place_order(SEED_ORDER)
    wait_for_flow(order)
    delivery = _reserve_delivery(order)
    Delivery.objects.filter(pk=delivery.pk).update(
        status=Delivery.Status.PENDING, dispatched_at=None
    )
    # Claim the dispatch ourselves and send the very same message twice, to two workers.
    Delivery.objects.filter(pk=delivery.pk).update(
        dispatched_at=delivery.updated_at, dispatch_seq=7
    )
    for _ in range(2):
        deliver.apply_async(args=[delivery.pk, 7], queue="inventory")

    wait_until(
        lambda: Delivery.objects.get(pk=delivery.pk).status == Delivery.Status.SUCCEEDED,
        message="one copy to run",
    )
    assert Delivery.objects.get(pk=delivery.pk).attempts == 2
    assert stock("PROD-001") == 98
    assert Notification.objects.filter(order_id=order["orderId"]).count() == 3
