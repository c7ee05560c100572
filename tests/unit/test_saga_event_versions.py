"""The saga's events carry what their subscribers need (``inventory.updated`` v2,
``inventory.check.failed`` v2, ``payment.authorized`` v2). A version-1 event stored before them
is lifted with what its order's ``order.created`` said, read from the event log; without a
guess: when the log does not hold that event, what v1 never said is null, its delivery is
dead-lettered naming the field, and the Edit & retry editor starts from it to fill in.
"""

from __future__ import annotations

from typing import Any

import pytest

from eventhub.bus.corrections import correction_base
from eventhub.bus.declarations import spec_for
from eventhub.bus.delivery import decode
from eventhub.bus.errors import NonRetryableError
from eventhub.bus.schema import from_wire
from eventhub.models import Event
from orders.events import store_pickup

pytestmark = pytest.mark.django_db

PICKUP = store_pickup("user-1").as_json()

# (event type, version-1 payload as the old publisher wrote it, fields it lacked, first named)
V1 = [
    pytest.param(
        "inventory.updated",
        {
            "orderId": "ORD-1",
            "items": [{"productId": "PROD-001", "quantity": 1, "remainingStock": 99}],
        },
        {"userId": "user-1", "totalAmount": 6999, "shippingAddress": PICKUP},
        "data.userId",
        id="inventory.updated",
    ),
    pytest.param(
        "inventory.check.failed",
        {
            "orderId": "ORD-1",
            "reason": "insufficient_stock",
            "productId": "PROD-002",
            "available": 50,
            "requested": 100,
        },
        {"userId": "user-1"},
        "data.userId",
        id="inventory.check.failed",
    ),
    pytest.param(
        "payment.authorized",
        {"orderId": "ORD-1", "paymentId": "PAY-1-ABC", "amount": 6999},
        {"items": [{"productId": "PROD-001", "quantity": 1}], "shippingAddress": PICKUP},
        "data.items",
        id="payment.authorized",
    ),
]


ORDER_CREATED_V1 = {
    "orderId": "ORD-1",
    "userId": "user-1",
    "items": [{"productId": "PROD-001", "quantity": 1, "price": 6999}],
    "totalAmount": 6999,
    "status": "pending",
    "createdAt": 1,
}


def stored(event_type: str, data: dict[str, Any], version: int = 1, sequence: int = 2) -> Event:
    return Event.objects.create(
        event_type=event_type,
        version=version,
        source="test",
        aggregate_type="order",
        aggregate_id="ORD-1",
        sequence=sequence,
        timestamp=1,
        data=data,
        correlation_id="flow-1",
    )


@pytest.mark.parametrize("order_created_version", [1, 2])
@pytest.mark.parametrize(("event_type", "v1", "lacked", "named"), V1)
def test_a_version_1_saga_event_gets_what_its_order_created_said_from_the_log(
    event_type: str,
    v1: dict[str, Any],
    lacked: dict[str, Any],
    named: str,
    order_created_version: int,
) -> None:
    # order.created v1 had no address: its own upcaster lifts it as store pickup, the
    # address the later events then carry.
    placed = dict(ORDER_CREATED_V1)
    if order_created_version == 2:
        placed["shippingAddress"] = PICKUP
    stored("order.created", placed, version=order_created_version, sequence=1)
    received = decode(stored(event_type, v1), attempt=1)
    assert received.data == from_wire(spec_for(event_type).payload, {**v1, **lacked})


@pytest.mark.parametrize(("event_type", "v1", "lacked", "named"), V1)
def test_a_version_1_saga_event_without_its_order_in_the_log_is_dead_lettered_naming_the_field(
    event_type: str, v1: dict[str, Any], lacked: dict[str, Any], named: str
) -> None:
    with pytest.raises(NonRetryableError, match=f"does not match its schema: {named}"):
        decode(stored(event_type, v1), attempt=1)


@pytest.mark.parametrize(("event_type", "v1", "lacked", "named"), V1)
def test_without_its_order_in_the_log_the_editor_starts_with_the_unknowns_null(
    event_type: str, v1: dict[str, Any], lacked: dict[str, Any], named: str
) -> None:
    event = stored(event_type, v1)
    base = correction_base(event)
    assert base == {**v1, **dict.fromkeys(lacked)}
    # Filled in by the operator, the payload is a valid current version.
    payload = from_wire(spec_for(event_type).payload, {**base, **lacked})
    assert payload.order_id == "ORD-1"
