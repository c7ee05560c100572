"""What the order service announces."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from eventhub.bus import DomainEvent, DomainSignal, event


@dataclass(frozen=True)
class OrderedItem:
    product_id: str
    quantity: int
    price: Decimal
    """Unit price from the catalog at the time of the order."""


@event("order.created", source="order-service", aggregate="order", aggregate_key="order_id")
@dataclass(frozen=True)
class OrderCreated(DomainEvent):
    """A valid order was stored as pending."""

    order_id: str
    user_id: str
    items: list[OrderedItem]
    total_amount: Decimal
    status: str
    created_at: int
    """Epoch milliseconds."""


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
