"""What inventory announces: stock reserved for an order, why it could not be, stock released."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Literal

from eventhub.bus import DomainEvent, DomainSignal, event, upcaster
from orders.events import ShippingAddress, order_created_data


@dataclass(frozen=True)
class ReservedLine:
    product_id: str
    quantity: int
    remaining_stock: int
    """Stock left after this reservation."""


@event(
    "inventory.updated",
    version=2,
    source="inventory-service",
    aggregate="order",
    aggregate_key="order_id",
)
@dataclass(frozen=True)
class InventoryUpdated(DomainEvent):
    """Every line of the order was reserved (all or none).

    Version 2 added what the next steps need, copied from ``order.created``: the user (for
    the mail), the total (for the payment) and the shipping address (passed on to shipping), so
    no subscriber reads the order's rows.
    """

    order_id: str
    user_id: str
    items: list[ReservedLine]
    total_amount: Decimal
    shipping_address: ShippingAddress


@upcaster("inventory.updated", from_version=1)
def inventory_updated_v1_to_v2(data: dict[str, Any]) -> dict[str, Any]:
    """Version 1 said only which lines were reserved. The user, the total and the address are
    what the order's ``order.created`` said, copied from the event log (append-only, so every
    read gives the same). An order whose ``order.created`` the log does not hold gets them as
    null: the delivery is dead-lettered naming ``userId`` rather than acting on a guess, and
    Edit & retry opens on this payload with the fields to fill in."""
    placed = order_created_data(str(data.get("orderId", "")))
    return {
        **data,
        "userId": placed.get("userId"),
        "totalAmount": placed.get("totalAmount"),
        "shippingAddress": placed.get("shippingAddress"),
    }


@event(
    "inventory.check.failed",
    version=2,
    source="inventory-service",
    aggregate="order",
    aggregate_key="order_id",
)
@dataclass(frozen=True)
class InventoryCheckFailed(DomainEvent):
    """Nothing was reserved; ``product_id`` is the first line that could not be.

    Version 2 added ``user_id`` (from ``order.created``), whom the stock-failure mail goes to.
    """

    order_id: str
    user_id: str
    reason: Literal["product_not_found", "insufficient_stock"]
    product_id: str
    available: int
    requested: int


@dataclass(frozen=True)
class ReleasedLine:
    product_id: str
    quantity: int
    remaining_stock: int
    """Stock after the release."""


@event(
    "inventory.released",
    source="inventory-service",
    aggregate="order",
    aggregate_key="order_id",
)
@dataclass(frozen=True)
class InventoryReleased(DomainEvent):
    """The order's reserved stock was put back (compensation of the reservation)."""

    order_id: str
    items: list[ReleasedLine]
    reason: str
    """Why the saga is being compensated: the failure of a later step."""


@upcaster("inventory.check.failed", from_version=1)
def inventory_check_failed_v1_to_v2(data: dict[str, Any]) -> dict[str, Any]:
    """Version 1 did not say whose order it was: the user is the one the order's
    ``order.created`` names in the event log, or null (dead-lettered naming ``userId``) when
    the log does not hold it."""
    return {**data, "userId": order_created_data(str(data.get("orderId", ""))).get("userId")}


inventory_updated = DomainSignal(InventoryUpdated)
inventory_check_failed = DomainSignal(InventoryCheckFailed)
inventory_released = DomainSignal(InventoryReleased)
