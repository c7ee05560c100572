"""The seed's order flow end to end: HTTP -> outbox -> Celery worker -> handlers -> events."""

from __future__ import annotations

import pytest

from eventhub.models import Delivery
from notifications.models import Notification
from orders.models import Order
from tests.integration.flows import (
    SEED_ORDER,
    events_of,
    mails,
    place_order,
    stock,
    wait_for_flow,
)

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


def test_seed_order_is_confirmed_and_every_event_shares_the_flow(worker, relay, worker_env):
    order = place_order(SEED_ORDER, **{"X-Correlation-ID": "req-xyz-1"})
    assert order["status"] == "pending"
    assert order["correlationId"] == "req-xyz-1"

    assert wait_for_flow(order).status == Order.Status.CONFIRMED
    assert stock("PROD-001") == 98
    assert stock("PROD-003") == 199

    events = events_of("req-xyz-1")
    by_type = {e.event_type: e for e in events}
    assert [e.event_type for e in events] == [
        "order.created",
        "inventory.updated",
        "payment.authorized",
        "shipment.created",
        "order.status.updated",
    ]
    # Each step was caused by the one before: the saga is one chain in one flow.
    assert events[0].causation_id is None
    for cause, effect in zip(events, events[1:], strict=False):
        assert effect.causation_id == cause.event_id, (cause.event_type, effect.event_type)
    assert by_type["order.status.updated"].data["previousStatus"] == "pending"
    assert by_type["order.status.updated"].data["status"] == "confirmed"
    assert [e.sequence for e in events] == [1, 2, 3, 4, 5]
    assert set(
        Delivery.objects.filter(event__correlation_id="req-xyz-1").values_list("status", flat=True)
    ) == {Delivery.Status.SUCCEEDED}

    kinds = sorted(
        Notification.objects.filter(order_id=order["orderId"]).values_list("kind", flat=True)
    )
    assert kinds == ["order_confirmation", "order_outcome", "stock_confirmed"]
    sent = mails(worker_env)
    assert sum(order["orderId"] in m for m in sent) == 3
    assert all("To: user-123@example.com" in m for m in sent)


def test_the_response_echoes_a_given_correlation_id(worker, relay):
    from django.test import Client

    response = Client().post(
        "/orders",
        data=SEED_ORDER,
        content_type="application/json",
        headers={"X-Correlation-ID": "abc-123"},
    )
    assert response.status_code == 201
    assert response["X-Correlation-ID"] == "abc-123"
    assert wait_for_flow(response.json()["data"]).correlation_id == "abc-123"


def test_insufficient_stock_rejects_the_order_with_the_seed_reason(worker, relay, worker_env):
    order = place_order(
        {
            "userId": "user-456",
            "items": [{"productId": "PROD-002", "quantity": 100, "price": 14999}],
        }
    )
    assert order["status"] == "pending"

    final = wait_for_flow(order)
    assert final.status == Order.Status.REJECTED
    assert "insufficient_stock" in final.status_reason
    assert stock("PROD-002") == 50

    events = {e.event_type: e for e in events_of(order["correlationId"])}
    assert set(events) == {"order.created", "inventory.check.failed", "order.status.updated"}
    failed = events["inventory.check.failed"].data
    assert failed == {
        "orderId": order["orderId"],
        "userId": "user-456",
        "reason": "insufficient_stock",
        "productId": "PROD-002",
        "available": 50,
        "requested": 100,
    }
    status = events["order.status.updated"].data
    assert (status["previousStatus"], status["status"]) == ("pending", "rejected")
    kinds = set(
        Notification.objects.filter(order_id=order["orderId"]).values_list("kind", flat=True)
    )
    assert kinds == {"order_confirmation", "stock_failure", "order_outcome"}


def test_a_product_removed_after_the_order_is_reported_as_not_found(start_worker, relay):
    from inventory.models import Product

    Product.objects.create(product_id="PROD-GONE", name="Gone", price=5, stock=3)
    order = place_order({"userId": "u1", "items": [{"productId": "PROD-GONE", "quantity": 1}]})
    # The order is stored; the product disappears before inventory handles the event: the
    # worker starts only afterwards (a running one reserved the stock first and the delete
    # then broke the reservation's foreign key).
    Product.objects.filter(pk="PROD-GONE").delete()
    start_worker()

    final = wait_for_flow(order)
    assert final.status == Order.Status.REJECTED
    failed = next(
        e for e in events_of(order["correlationId"]) if e.event_type == "inventory.check.failed"
    )
    assert failed.data["reason"] == "product_not_found"
    assert failed.data["productId"] == "PROD-GONE"
