"""With the broker down at commit time the order still succeeds; the relay delivers later."""

from __future__ import annotations

import time

import pytest

from eventhub.bus import subscribers
from eventhub.models import Delivery, Event
from notifications.models import Notification
from orders.models import Order
from tests.integration.flows import SEED_ORDER, place_order, stock, wait_for_flow

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


def test_orders_placed_while_the_broker_is_down_complete_once_it_is_back(
    worker, relay, redis_server
):
    redis_server.stop()
    try:
        started = time.monotonic()
        orders = [place_order(SEED_ORDER) for _ in range(3)]
        elapsed = time.monotonic() - started
        assert all(o["status"] == "pending" for o in orders)
        # Committed and recorded; nothing could be handed to the broker, so nothing ran.
        assert Event.objects.filter(event_type="order.created").count() == 3
        assert Delivery.objects.count() == 3 * len(subscribers.for_event_type("order.created"))
        assert not Delivery.objects.exclude(status=Delivery.Status.PENDING).exists()
        print(f"3 orders placed with the broker down in {elapsed:.2f}s")
    finally:
        redis_server.start()

    for order in orders:
        assert wait_for_flow(order, timeout=120).status == Order.Status.CONFIRMED
    assert stock("PROD-001") == 100 - 2 * 3
    deliveries = Delivery.objects.all()
    assert set(deliveries.values_list("status", flat=True)) == {Delivery.Status.SUCCEEDED}
    assert set(deliveries.values_list("attempts", flat=True)) == {1}
    assert Notification.objects.count() == 3 * 3
