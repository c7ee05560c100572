"""The order saga of seed 7.2 with a real worker: each path ends where it should, and a
failure's compensations run in reverse as events of their own."""

from __future__ import annotations

import pytest
from django.test import Client

from eventhub.models import Delivery, FaultRule
from inventory.shipping.models import Shipment
from notifications.models import Notification
from orders.models import Order
from orders.payments.models import Payment
from tests.integration.flows import events_of, place_order, stock, wait_for_flow
from tests.integration.saga import (
    ADDRESS,
    HAPPY,
    HAPPY_EVENTS,
    OUT_OF_STOCK,
    PAYMENT_DECLINED,
    PAYMENT_DECLINED_EVENTS,
    SHIPMENT_REFUSED,
    SHIPMENT_REFUSED_EVENTS,
    assert_causal_chain,
    event_types,
    reserved,
    step_states,
)

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


def test_the_happy_path_reserves_pays_ships_and_confirms(worker, relay):
    order = place_order(HAPPY)
    assert order["saga"]["status"] == "running"
    assert [s["state"] for s in order["saga"]["steps"]] == ["pending"] * 3

    final = wait_for_flow(order)
    assert final.status == Order.Status.CONFIRMED
    assert event_types(order) == HAPPY_EVENTS
    assert_causal_chain(order)
    assert stock("PROD-001") == 98 and stock("PROD-003") == 199
    assert reserved(order["orderId"]) == [("PROD-001", 2, False), ("PROD-003", 1, False)]

    payment = Payment.objects.get(order_id=order["orderId"])
    assert (payment.status, payment.amount) == (Payment.Status.AUTHORIZED, 15997)
    shipment = Shipment.objects.get(order_id=order["orderId"])
    assert (shipment.status, shipment.units, shipment.address) == ("created", 3, ADDRESS)

    saga = Client().get(f"/orders/{order['orderId']}").json()["data"]["saga"]
    assert saga["status"] == "completed"
    steps = saga["steps"]
    assert [(s["step"], s["state"]) for s in steps] == [
        ("reserve_stock", "done"),
        ("authorize_payment", "done"),
        ("create_shipment", "done"),
    ]
    done_at = [s["doneAt"] for s in steps]
    assert done_at == sorted(done_at) and all(done_at)
    assert payment.payment_id in steps[1]["detail"]
    assert shipment.shipment_id in steps[2]["detail"]


def test_a_declined_payment_releases_the_stock_and_cancels_the_order_with_the_reason(worker, relay):
    order = place_order(PAYMENT_DECLINED)

    final = wait_for_flow(order)
    assert final.status == Order.Status.CANCELLED
    assert final.status_reason.startswith("payment_declined: amount 104985 is over the limit")
    assert event_types(order) == PAYMENT_DECLINED_EVENTS
    assert_causal_chain(order)
    events = {e.event_type: e for e in events_of(order["correlationId"])}
    assert events["inventory.released"].data["reason"] == events["payment.failed"].data["reason"]
    assert events["inventory.released"].data["items"] == [
        {"productId": "PROD-001", "quantity": 15, "remainingStock": 100}
    ]
    status = events["order.status.updated"].data
    assert (status["previousStatus"], status["status"]) == ("pending", "cancelled")
    assert status["reason"] == final.status_reason

    assert stock("PROD-001") == 100
    assert reserved(order["orderId"]) == [("PROD-001", 15, True)]
    assert Payment.objects.get(order_id=order["orderId"]).status == Payment.Status.DECLINED
    assert not Shipment.objects.filter(order_id=order["orderId"]).exists()
    assert step_states(order["orderId"]) == {
        "reserve_stock": "compensated",
        "authorize_payment": "failed",
        "create_shipment": "pending",
    }
    saga = Client().get(f"/orders/{order['orderId']}").json()["data"]["saga"]
    assert saga["status"] == "compensated"
    assert [s["state"] for s in saga["steps"]] == ["compensated", "failed", "skipped"]
    outcome = Notification.objects.get(order_id=order["orderId"], kind="order_outcome")
    assert "cancelled" in outcome.subject and "payment_declined" in outcome.body


def test_a_refused_shipment_refunds_the_payment_then_releases_the_stock(worker, relay):
    order = place_order(SHIPMENT_REFUSED)

    final = wait_for_flow(order)
    assert final.status == Order.Status.CANCELLED
    assert final.status_reason == "shipment_refused: 21 units are more than a parcel takes (20)"
    # Compensations in reverse order of the steps: the refund first, then the release.
    assert event_types(order) == SHIPMENT_REFUSED_EVENTS
    assert_causal_chain(order)

    payment = Payment.objects.get(order_id=order["orderId"])
    assert payment.status == Payment.Status.REFUNDED
    assert payment.refunded_at is not None and payment.amount == 41979
    assert Shipment.objects.get(order_id=order["orderId"]).status == Shipment.Status.FAILED
    assert stock("PROD-003") == 200
    assert reserved(order["orderId"]) == [("PROD-003", 21, True)]
    assert step_states(order["orderId"]) == {
        "reserve_stock": "compensated",
        "authorize_payment": "compensated",
        "create_shipment": "failed",
    }
    steps = {s.name: s for s in final.saga_steps.all()}
    # Compensated after it was done, and the later step's compensation ran first.
    assert steps["authorize_payment"].done_at < steps["create_shipment"].failed_at
    assert steps["create_shipment"].failed_at <= steps["authorize_payment"].compensated_at
    assert steps["authorize_payment"].compensated_at <= steps["reserve_stock"].compensated_at


def test_insufficient_stock_still_rejects_without_compensation(worker, relay):
    order = place_order(OUT_OF_STOCK)

    final = wait_for_flow(order)
    assert final.status == Order.Status.REJECTED
    assert event_types(order) == ["order.created", "inventory.check.failed", "order.status.updated"]
    assert not Payment.objects.exists() and not Shipment.objects.exists()
    assert step_states(order["orderId"])["reserve_stock"] == "failed"
    saga = Client().get(f"/orders/{order['orderId']}").json()["data"]["saga"]
    assert saga["status"] == "failed"
    assert [s["state"] for s in saga["steps"]] == ["failed", "skipped", "skipped"]


def test_the_payment_limit_and_the_blocked_products_come_from_the_environment(start_worker, relay):
    start_worker(EVENTHUB_PAYMENT_LIMIT="15000", EVENTHUB_SHIPPING_BLOCKED_PRODUCTS="PROD-003")
    over_limit = place_order(HAPPY)  # 15997 > 15000
    blocked = place_order({"userId": "u2", "items": [{"productId": "PROD-003", "quantity": 1}]})

    declined = wait_for_flow(over_limit)
    assert declined.status == Order.Status.CANCELLED
    assert declined.status_reason.startswith(
        "payment_declined: amount 15997 is over the limit 15000"
    )
    refused = wait_for_flow(blocked)
    assert refused.status == Order.Status.CANCELLED
    assert refused.status_reason == "shipment_refused: PROD-003 cannot be shipped"
    assert stock("PROD-001") == 100 and stock("PROD-003") == 200


def test_the_gateway_and_carrier_fault_switches_fail_their_step(worker, relay):
    FaultRule.objects.create(
        subscriber="payments.gateway", enabled=True, mode=FaultRule.Mode.NEXT_N, remaining=1
    )
    FaultRule.objects.create(subscriber="shipping.carrier", enabled=True, mode="always")

    declined = wait_for_flow(place_order(HAPPY))
    assert declined.status == Order.Status.CANCELLED
    assert "fault switch payments.gateway" in declined.status_reason
    assert FaultRule.objects.get(subscriber="payments.gateway").remaining == 0

    refused = wait_for_flow(place_order(HAPPY))
    assert refused.status == Order.Status.CANCELLED
    assert "fault switch shipping.carrier" in refused.status_reason
    assert Payment.objects.get(order_id=refused.order_id).status == Payment.Status.REFUNDED
    assert stock("PROD-001") == 100
    # Business failures, not technical ones: every delivery succeeded at its first attempt.
    deliveries = Delivery.objects.all()
    assert set(deliveries.values_list("status", flat=True)) == {Delivery.Status.SUCCEEDED}
    assert set(deliveries.values_list("attempts", flat=True)) == {1}
