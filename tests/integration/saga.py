"""Orders that take each path of the saga, and what to read back about them."""

from __future__ import annotations

from typing import Any

from inventory.models import Reservation
from orders.models import SagaStep
from tests.integration.flows import events_of

ADDRESS = {
    "name": "Li Lei",
    "line1": "1 Nanjing Road",
    "city": "Shanghai",
    "postalCode": "200001",
    "country": "CN",
}
HAPPY = {
    "userId": "user-happy",
    "items": [
        {"productId": "PROD-001", "quantity": 2, "price": 6999},
        {"productId": "PROD-003", "quantity": 1, "price": 1999},
    ],
    "shippingAddress": ADDRESS,
}
# 15 x 6999 = 104985: over the default payment limit of 100000.
PAYMENT_DECLINED = {"userId": "user-rich", "items": [{"productId": "PROD-001", "quantity": 15}]}
# 21 units (41979): paid, but more than the 20 units a parcel takes by default.
SHIPMENT_REFUSED = {"userId": "user-bulk", "items": [{"productId": "PROD-003", "quantity": 21}]}
# 100 MacBooks against a stock of 50: rejected before anything is reserved (seed 4.3).
OUT_OF_STOCK = {"userId": "user-456", "items": [{"productId": "PROD-002", "quantity": 100}]}

HAPPY_EVENTS = [
    "order.created",
    "inventory.updated",
    "payment.authorized",
    "shipment.created",
    "order.status.updated",
]
PAYMENT_DECLINED_EVENTS = [
    "order.created",
    "inventory.updated",
    "payment.failed",
    "inventory.released",
    "order.status.updated",
]
SHIPMENT_REFUSED_EVENTS = [
    "order.created",
    "inventory.updated",
    "payment.authorized",
    "shipment.failed",
    "payment.refunded",
    "inventory.released",
    "order.status.updated",
]


def event_types(order: dict[str, Any]) -> list[str]:
    return [e.event_type for e in events_of(order["correlationId"])]


def assert_causal_chain(order: dict[str, Any]) -> None:
    """Each event of the flow was caused by the one recorded before it."""
    events = events_of(order["correlationId"])
    assert events[0].causation_id is None
    for cause, effect in zip(events, events[1:], strict=False):
        assert effect.causation_id == cause.event_id, (cause.event_type, effect.event_type)
    assert [e.sequence for e in events] == list(range(1, len(events) + 1))


def step_states(order_id: str) -> dict[str, str]:
    return {s.name: s.state for s in SagaStep.objects.filter(order_id=order_id)}


def reserved(order_id: str) -> list[tuple[str, int, bool]]:
    """(product, quantity, released?) of each reservation of the order."""
    return [
        (r.product_id, r.quantity, r.released_at is not None)
        for r in Reservation.objects.filter(order_id=order_id).order_by("product_id")
    ]


def reserve_stock_of(order: Any) -> bool:
    """Reserve an order's stock in this process, as inventory.reserve_stock would: its
    inventory.updated is the saga projection's first event (no worker needed)."""
    from inventory.services import Line, stock_reserve
    from orders.selectors import order_shipping_address

    return stock_reserve(
        order_id=order.order_id,
        lines=[Line(line.product_id, line.quantity) for line in order.lines.all()],
        user_id=order.user_id,
        total_amount=order.total_amount,
        shipping_address=order_shipping_address(order),
    )
