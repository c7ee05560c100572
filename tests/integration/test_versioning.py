"""Event versioning (seed 6.4): a stored version-1 ``order.created`` is handled as version 2
by every subscriber; a version the bus cannot lift is dead-lettered after one attempt."""

from __future__ import annotations

from typing import Any

import pytest
from django.db import transaction
from django.test import Client

from eventhub.bus import subscribers
from eventhub.bus.delivery import decode
from eventhub.models import Attempt, Delivery, Event
from notifications.models import Notification
from orders.events import STORE_PICKUP_LINE
from orders.models import Order
from orders.services import ItemInput, order_place
from tests.conftest import wait_until
from tests.integration.flows import stock, wait_for_flow

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


def _place_stored_as(version: int, **rewrite: Any) -> tuple[dict[str, Any], Event]:
    """An order whose ``order.created`` is stored at ``version``, as an older (or newer)
    publisher would have written it; it is dispatched when the transaction commits."""
    with transaction.atomic():
        order = order_place(user_id="legacy-user", items=[ItemInput("PROD-001", 1, None)])
        created = Event.objects.get(aggregate_id=order.order_id, event_type="order.created")
        data = {k: v for k, v in created.data.items() if k != "shippingAddress"}
        Event.objects.filter(pk=created.pk).update(version=version, data={**data, **rewrite})
        Order.objects.filter(pk=order.pk).update(shipping_address={})  # placed before v2
    created.refresh_from_db()
    return {"orderId": order.order_id, "correlationId": order.correlation_id}, created


def test_a_stored_version_1_order_created_is_handled_as_version_2_by_every_subscriber(
    worker, relay
):
    order, created = _place_stored_as(1)

    final = wait_for_flow(order)
    assert final.status == Order.Status.CONFIRMED
    assert stock("PROD-001") == 99
    deliveries = Delivery.objects.filter(event=created)
    assert {d.subscriber for d in deliveries} == {
        s.name for s in subscribers.for_event_type("order.created")
    }
    assert {(d.status, d.attempts) for d in deliveries} == {(Delivery.Status.SUCCEEDED, 1)}

    # What every handler was given: version 2, with the upcaster's store-pickup address.
    received = decode(created, attempt=1)
    assert received.version == 2
    assert received.data.shipping_address.line1 == STORE_PICKUP_LINE
    assert received.data.shipping_address.name == "legacy-user"
    mail = Notification.objects.get(order_id=order["orderId"], kind="order_confirmation")
    assert f"Ship to: legacy-user, {STORE_PICKUP_LINE}" in mail.body

    # GET /events shows the event as stored: version 1, without the address.
    response = Client().get("/events", {"eventType": "order.created"}).json()
    [envelope] = [e for e in response["data"] if e["eventId"] == str(created.event_id)]
    assert envelope["version"] == 1
    assert "shippingAddress" not in envelope["data"]
    detail = Client().get(f"/orders/{order['orderId']}").json()["data"]
    assert detail["shippingAddress"]["line1"] == STORE_PICKUP_LINE


def test_an_event_of_an_unsupported_version_is_dead_lettered_after_one_attempt(worker, relay):
    order, created = _place_stored_as(3, shippingAddress={"name": "x"})

    deliveries = Delivery.objects.filter(event=created)
    wait_until(
        lambda: set(deliveries.values_list("status", flat=True)) == {Delivery.Status.DEAD},
        message="every delivery of the version-3 event to be dead",
    )
    for delivery in deliveries:
        assert delivery.attempts == 1
        assert "version 3 is not supported (current version is 2)" in delivery.last_error
        [attempt] = Attempt.objects.filter(delivery=delivery)
        assert attempt.outcome == Attempt.Outcome.FAILED
        assert "UnsupportedEventVersion" in attempt.error
    dead_letters = Event.objects.filter(event_type="event.processing.failed")
    assert {e.data["subscriber"] for e in dead_letters} == {d.subscriber for d in deliveries}
    assert all("version 3 is not supported" in e.data["error"] for e in dead_letters)
    assert Order.objects.get(pk=order["orderId"]).status == Order.Status.PENDING
    assert stock("PROD-001") == 100
