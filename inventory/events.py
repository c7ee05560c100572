"""What inventory announces: stock reserved for an order, why it could not be, stock released."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from eventhub.bus import DomainEvent, DomainSignal, event


@dataclass(frozen=True)
class ReservedLine:
    product_id: str
    quantity: int
    remaining_stock: int
    """Stock left after this reservation."""


@event(
    "inventory.updated",
    source="inventory-service",
    aggregate="order",
    aggregate_key="order_id",
)
@dataclass(frozen=True)
class InventoryUpdated(DomainEvent):
    """Every line of the order was reserved (all or none)."""

    order_id: str
    items: list[ReservedLine]


@event(
    "inventory.check.failed",
    source="inventory-service",
    aggregate="order",
    aggregate_key="order_id",
)
@dataclass(frozen=True)
class InventoryCheckFailed(DomainEvent):
    """Nothing was reserved; ``product_id`` is the first line that could not be."""

    order_id: str
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


inventory_updated = DomainSignal(InventoryUpdated)
inventory_check_failed = DomainSignal(InventoryCheckFailed)
inventory_released = DomainSignal(InventoryReleased)
