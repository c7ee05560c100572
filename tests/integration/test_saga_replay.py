"""Replaying every event of finished sagas, twice, changes nothing.

Each saga subscriber is effectively-once: a redelivery of an event it has applied finds its
idempotency record and does nothing, and its own writes are guarded too (one payment and one
shipment per order, a reservation released once, a step stamped once, a final status kept).
"""

from __future__ import annotations

from typing import Any

import pytest
from django.db.models import F

from eventhub.bus import Guarantee
from eventhub.models import Delivery, Event
from inventory.models import Product, Reservation
from inventory.shipping.models import Shipment
from notifications.models import Notification, OrderStatusView
from orders.models import Order, SagaStep
from orders.payments.models import Payment
from tests.conftest import wait_until
from tests.integration.flows import place_order, wait_for_flow
from tests.integration.saga import HAPPY, OUT_OF_STOCK, PAYMENT_DECLINED, SHIPMENT_REFUSED

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

SAGA_EVENT_TYPES = {
    "order.created",
    "inventory.updated",
    "inventory.check.failed",
    "payment.authorized",
    "payment.failed",
    "shipment.created",
    "shipment.failed",
    "payment.refunded",
    "inventory.released",
    "order.status.updated",
}


def snapshot() -> dict[str, Any]:
    """Everything the saga's handlers write."""
    return {
        "events": list(Event.objects.order_by("id").values_list("event_id", flat=True)),
        "stock": dict(Product.objects.values_list("product_id", "stock")),
        "reservations": list(
            Reservation.objects.order_by("pk").values_list(
                "order_id", "product_id", "quantity", "released_at"
            )
        ),
        "payments": list(
            Payment.objects.order_by("pk").values_list("order_id", "status", "amount", "reason")
        ),
        "shipments": list(Shipment.objects.order_by("pk").values_list("order_id", "status")),
        "orders": list(
            Order.objects.order_by("pk").values_list("order_id", "status", "status_reason")
        ),
        "steps": list(
            SagaStep.objects.order_by("pk").values_list(
                "order_id", "name", "done_at", "failed_at", "compensated_at", "detail"
            )
        ),
        "notifications": list(Notification.objects.order_by("pk").values_list("pk", "kind")),
        "status_view": list(
            OrderStatusView.objects.order_by("pk").values_list("order_id", "status", "sequence")
        ),
    }


def test_replaying_every_saga_event_twice_changes_nothing(worker, relay):
    orders = [place_order(b) for b in (HAPPY, PAYMENT_DECLINED, SHIPMENT_REFUSED, OUT_OF_STOCK)]
    assert [wait_for_flow(o).status for o in orders] == [
        "confirmed",
        "cancelled",
        "cancelled",
        "rejected",
    ]
    assert set(Event.objects.values_list("event_type", flat=True)) == SAGA_EVENT_TYPES
    before = snapshot()
    # The at-most-once counter is left out: the bus never delivers to it twice.
    replayed = Delivery.objects.filter(guarantee=Guarantee.EFFECTIVELY_ONCE)
    assert set(replayed.values_list("event__event_type", flat=True)) == SAGA_EVENT_TYPES

    for attempts in (2, 3):
        # Put every delivery back in line, as a broker redelivery or an operator would.
        replayed.update(
            status=Delivery.Status.PENDING,
            dispatched_at=None,
            max_attempts=F("attempts") + 1,
        )
        wait_until(
            lambda attempts=attempts: (
                not replayed.exclude(status=Delivery.Status.SUCCEEDED).exists()
                and not replayed.exclude(attempts=attempts).exists()
            ),
            timeout=60,
            message=f"replay {attempts - 1} to run",
        )
        assert snapshot() == before
