"""What the order service announces."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from eventhub.bus import DomainEvent, DomainSignal, event, upcaster
from eventhub.bus.event_log import first_recorded


@dataclass(frozen=True)
class OrderedItem:
    product_id: str
    quantity: int
    price: Decimal
    """Unit price from the catalog at the time of the order."""


@dataclass(frozen=True)
class ShippingAddress:
    name: str
    """Who receives the parcel."""
    line1: str
    """Street and number, or the pickup point."""
    city: str
    postal_code: str
    country: str
    """ISO 3166-1 alpha-2 code, upper case (``CN``)."""

    def as_json(self) -> dict[str, str]:
        """The wire (and stored) form, camelCase as in the events."""
        return {
            "name": self.name,
            "line1": self.line1,
            "city": self.city,
            "postalCode": self.postal_code,
            "country": self.country,
        }

    @classmethod
    def from_json(cls, data: dict[str, str]) -> ShippingAddress:
        return cls(
            name=data["name"],
            line1=data["line1"],
            city=data["city"],
            postal_code=data["postalCode"],
            country=data["country"],
        )


STORE_PICKUP_LINE = "Collect in store"


def store_pickup(user_id: str) -> ShippingAddress:
    """The address of an order that names none: the shopper collects it at the store."""
    return ShippingAddress(
        name=user_id, line1=STORE_PICKUP_LINE, city="Shanghai", postal_code="200000", country="CN"
    )


@event(
    "order.created",
    version=2,
    source="order-service",
    aggregate="order",
    aggregate_key="order_id",
)
@dataclass(frozen=True)
class OrderCreated(DomainEvent):
    """A valid order was stored as pending. Version 2 added ``shipping_address``."""

    order_id: str
    user_id: str
    items: list[OrderedItem]
    total_amount: Decimal
    status: str
    created_at: int
    """Epoch milliseconds."""
    shipping_address: ShippingAddress


@upcaster("order.created", from_version=1)
def order_created_v1_to_v2(data: dict[str, Any]) -> dict[str, Any]:
    """Version 1 had no shipping address: those orders are collected in store."""
    return {**data, "shippingAddress": store_pickup(str(data.get("userId", ""))).as_json()}


def order_created_data(order_id: str) -> dict[str, Any]:
    """What the order's ``order.created`` said (current version, wire form), read from the
    event log; ``{}`` if the log does not hold it. For the upcasters of the saga's later
    events, whose version 1 left the user, total, items and address to be looked up."""
    return first_recorded("order.created", aggregate_type="order", aggregate_id=order_id)


@event("order.status.updated", source="order-service", aggregate="order", aggregate_key="order_id")
@dataclass(frozen=True)
class OrderStatusUpdated(DomainEvent):
    """The order moved from ``previous_status`` to ``status``."""

    order_id: str
    user_id: str
    status: str
    previous_status: str
    reason: str = ""


order_created = DomainSignal(OrderCreated)
order_status_updated = DomainSignal(OrderStatusUpdated)
