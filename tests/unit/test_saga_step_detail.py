"""A saga step's detail reads as English: "1 unit reserved", "3 units reserved"."""

from __future__ import annotations

from decimal import Decimal

from inventory.events import InventoryReleased, InventoryUpdated, ReleasedLine, ReservedLine
from orders.events import ShippingAddress
from orders.handlers import _step_of


def reserved(*quantities: int) -> InventoryUpdated:
    return InventoryUpdated(
        order_id="ORD-1",
        user_id="user-1",
        items=[ReservedLine(f"PROD-00{i}", q, 10) for i, q in enumerate(quantities, 1)],
        total_amount=Decimal("69.99"),
        shipping_address=ShippingAddress("Ann", "5 Rue", "Paris", "75001", "FR"),
    )


def test_one_unit_is_singular_and_more_are_plural():
    assert _step_of(reserved(1))[2] == "1 unit reserved"
    assert _step_of(reserved(1, 2))[2] == "3 units reserved"
    released = InventoryReleased(
        order_id="ORD-1", items=[ReleasedLine("PROD-001", 1, 11)], reason="payment failed"
    )
    assert _step_of(released)[2] == "1 unit released"
