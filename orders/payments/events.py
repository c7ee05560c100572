"""What the (simulated) payment service announces about an order's payment."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from eventhub.bus import DomainEvent, DomainSignal, event, upcaster
from orders.events import ShippingAddress, order_created_data


@dataclass(frozen=True)
class PaidItem:
    product_id: str
    quantity: int


@event(
    "payment.authorized",
    version=2,
    source="payment-service",
    aggregate="order",
    aggregate_key="order_id",
)
@dataclass(frozen=True)
class PaymentAuthorized(DomainEvent):
    """The order's total was authorised (saga step 2 done).

    Version 2 added what shipping needs, passed on from ``inventory.updated``: the items and
    the shipping address, so that the shipment is booked from the event, not the order's rows.
    """

    order_id: str
    payment_id: str
    amount: Decimal
    items: list[PaidItem]
    shipping_address: ShippingAddress


@upcaster("payment.authorized", from_version=1)
def payment_authorized_v1_to_v2(data: dict[str, Any]) -> dict[str, Any]:
    """Version 1 carried the payment only. What to ship and where is what the order's
    ``order.created`` said, copied from the event log (append-only, so every read gives the
    same); null when the log does not hold it, so the delivery is dead-lettered naming
    ``items`` rather than shipping a guess."""
    placed = order_created_data(str(data.get("orderId", "")))
    items = placed.get("items")
    return {
        **data,
        "items": None
        if items is None
        else [{"productId": i["productId"], "quantity": i["quantity"]} for i in items],
        "shippingAddress": placed.get("shippingAddress"),
    }


@event("payment.failed", source="payment-service", aggregate="order", aggregate_key="order_id")
@dataclass(frozen=True)
class PaymentFailed(DomainEvent):
    """The payment was declined; nothing was charged (saga step 2 failed)."""

    order_id: str
    amount: Decimal
    reason: str


@event("payment.refunded", source="payment-service", aggregate="order", aggregate_key="order_id")
@dataclass(frozen=True)
class PaymentRefunded(DomainEvent):
    """An authorised payment was given back (compensation of step 2)."""

    order_id: str
    payment_id: str
    amount: Decimal
    reason: str
    """Why the saga is being compensated: the failure of a later step."""


payment_authorized = DomainSignal(PaymentAuthorized)
payment_failed = DomainSignal(PaymentFailed)
payment_refunded = DomainSignal(PaymentRefunded)
