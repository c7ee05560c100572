"""Helpers to place orders over HTTP and wait for their flows to settle."""

from __future__ import annotations

import json
from typing import Any

from django.test import Client

from eventhub.models import Delivery, Event
from orders.models import Order
from tests.conftest import wait_until

UNFINISHED = [Delivery.Status.PENDING, Delivery.Status.RUNNING, Delivery.Status.RETRYING]
SEED_ORDER = {
    "userId": "user-123",
    "items": [
        {"productId": "PROD-001", "quantity": 2, "price": 6999},
        {"productId": "PROD-003", "quantity": 1, "price": 1999},
    ],
}


def place_order(body: dict[str, Any], **headers: str) -> dict[str, Any]:
    response = Client().post(
        "/orders", data=json.dumps(body), content_type="application/json", headers=headers
    )
    assert response.status_code == 201, response.content
    return response.json()["data"]


def flow_settled(correlation_id: str) -> bool:
    """Every delivery of every event of the flow has finished (and there is at least one)."""
    deliveries = Delivery.objects.filter(event__correlation_id=correlation_id)
    return deliveries.exists() and not deliveries.filter(status__in=UNFINISHED).exists()


def wait_for_flow(order: dict[str, Any], timeout: float = 60) -> Order:
    correlation_id = order["correlationId"]
    wait_until(
        lambda: (
            flow_settled(correlation_id)
            and Order.objects.get(pk=order["orderId"]).status != Order.Status.PENDING
        ),
        timeout=timeout,
        message=f"the flow of {order['orderId']} to settle",
    )
    return Order.objects.get(pk=order["orderId"])


def events_of(correlation_id: str) -> list[Event]:
    return list(Event.objects.filter(correlation_id=correlation_id).order_by("id"))


def stock(product_id: str) -> int:
    from inventory.models import Product

    return Product.objects.get(pk=product_id).stock


def mails(worker_env: dict[str, str]) -> list[str]:
    from pathlib import Path

    return [p.read_text() for p in sorted(Path(worker_env["EMAIL_FILE_PATH"]).glob("*.log"))]
