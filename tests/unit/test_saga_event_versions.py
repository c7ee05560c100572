"""The saga's events carry what their subscribers need (``inventory.updated`` v2,
``inventory.check.failed`` v2, ``payment.authorized`` v2), and a version-1 event stored before
them is lifted without a guess: what it never said is null, so its delivery is dead-lettered
naming the field, and the payload the Edit & retry editor starts from shows it to fill in.
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


def stored(event_type: str, data: dict[str, Any]) -> Event:
    return Event.objects.create(
        event_type=event_type,
        version=1,
        source="test",
        aggregate_type="order",
        aggregate_id="ORD-1",
        sequence=2,
        timestamp=1,
        data=data,
        correlation_id="flow-1",
    )


@pytest.mark.parametrize(("event_type", "v1", "lacked", "named"), V1)
def test_a_version_1_saga_event_is_dead_lettered_naming_what_it_never_said(
    event_type: str, v1: dict[str, Any], lacked: dict[str, Any], named: str
) -> None:
    with pytest.raises(NonRetryableError, match=f"does not match its schema: {named}"):
        decode(stored(event_type, v1), attempt=1)


@pytest.mark.parametrize(("event_type", "v1", "lacked", "named"), V1)
def test_the_editor_starts_from_the_lifted_payload_with_the_unknowns_null(
    event_type: str, v1: dict[str, Any], lacked: dict[str, Any], named: str
) -> None:
    event = stored(event_type, v1)
    base = correction_base(event)
    assert base == {**v1, **dict.fromkeys(lacked)}
    # Filled in by the operator, the payload is a valid current version.
    payload = from_wire(spec_for(event_type).payload, {**base, **lacked})
    assert payload.order_id == "ORD-1"
