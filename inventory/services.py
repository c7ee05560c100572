"""Writes to stock: seeding the catalog, reserving an order's lines all or none, releasing them."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from django.db import transaction
from django.db.models import F
from django.utils import timezone

from orders.events import ShippingAddress

from .catalog import CATALOG
from .events import (
    InventoryCheckFailed,
    InventoryReleased,
    InventoryUpdated,
    ReleasedLine,
    ReservedLine,
    inventory_check_failed,
    inventory_released,
    inventory_updated,
)
from .models import Product, Reservation


def catalog_seed() -> int:
    """Create the seed's products that are missing; existing stock is left as it is."""
    created = 0
    for product_id, name, price, stock in CATALOG:
        _, was_created = Product.objects.get_or_create(
            product_id=product_id, defaults={"name": name, "price": price, "stock": stock}
        )
        created += was_created
    return created


@dataclass(frozen=True)
class Line:
    product_id: str
    quantity: int


class _Shortage(Exception):
    def __init__(self, failed: InventoryCheckFailed) -> None:
        self.failed = failed


def stock_reserve(
    *,
    order_id: str,
    lines: list[Line],
    user_id: str,
    total_amount: Decimal,
    shipping_address: ShippingAddress,
) -> bool:
    """Reserve every line or none and announce the outcome; True if reserved.

    Each decrement is a conditional UPDATE (``stock >= quantity``), taken in product order so
    that concurrent orders never deadlock and stock never goes below zero. The user, total and
    address are not inventory's: they are passed on in the events for the saga's next steps.
    """
    wanted: dict[str, int] = {}
    for line in lines:
        wanted[line.product_id] = wanted.get(line.product_id, 0) + line.quantity
    reserved: list[ReservedLine] = []
    try:
        with transaction.atomic():
            for product_id in sorted(wanted):
                quantity = wanted[product_id]
                taken = Product.objects.filter(product_id=product_id, stock__gte=quantity).update(
                    stock=F("stock") - quantity
                )
                if not taken:
                    available = (
                        Product.objects.filter(product_id=product_id)
                        .values_list("stock", flat=True)
                        .first()
                    )
                    raise _Shortage(
                        InventoryCheckFailed(
                            order_id=order_id,
                            user_id=user_id,
                            reason="product_not_found"
                            if available is None
                            else "insufficient_stock",
                            product_id=product_id,
                            available=available or 0,
                            requested=quantity,
                        )
                    )
                Reservation.objects.create(
                    order_id=order_id, product_id=product_id, quantity=quantity
                )
                remaining = Product.objects.values_list("stock", flat=True).get(pk=product_id)
                reserved.append(ReservedLine(product_id, quantity, remaining))
    except _Shortage as shortage:
        inventory_check_failed.send(sender=Product, event=shortage.failed)
        return False
    inventory_updated.send(
        sender=Product,
        event=InventoryUpdated(
            order_id=order_id,
            user_id=user_id,
            items=reserved,
            total_amount=total_amount,
            shipping_address=shipping_address,
        ),
    )
    return True


def stock_release(*, order_id: str, reason: str) -> bool:
    """Put back every reservation of the order not yet released and announce it (the saga's
    compensation of ``stock_reserve``); True if anything was released.

    Each reservation is released by a conditional UPDATE (``released_at`` from NULL), so a
    repeated compensation never puts stock back twice.
    """
    released: list[ReleasedLine] = []
    with transaction.atomic():
        now = timezone.now()
        reservations = Reservation.objects.filter(order_id=order_id, released_at=None).order_by(
            "product_id"
        )
        for reservation in reservations:
            if not Reservation.objects.filter(pk=reservation.pk, released_at=None).update(
                released_at=now
            ):
                continue
            Product.objects.filter(pk=reservation.product_id).update(
                stock=F("stock") + reservation.quantity
            )
            remaining = Product.objects.values_list("stock", flat=True).get(
                pk=reservation.product_id
            )
            released.append(ReleasedLine(reservation.product_id, reservation.quantity, remaining))
        if released:
            inventory_released.send(
                sender=Product,
                event=InventoryReleased(order_id=order_id, items=released, reason=reason),
            )
    return bool(released)
