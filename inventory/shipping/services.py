"""Writes of the shipping service: book an order's shipment."""

from __future__ import annotations

from dataclasses import dataclass

from django.db import transaction

from eventhub.ids import timestamped_id
from orders.events import ShippingAddress

from .events import ShipmentCreated, ShipmentFailed, shipment_created, shipment_failed
from .models import Shipment
from .rules import refusal_reason


@dataclass(frozen=True)
class Parcel:
    product_id: str
    quantity: int


def shipment_create(*, order_id: str, parcels: list[Parcel], address: ShippingAddress) -> Shipment:
    """Book the order's shipment, or record why not, and announce it; once per order."""
    units = sum(p.quantity for p in parcels)
    with transaction.atomic():
        existing = Shipment.objects.select_for_update().filter(order_id=order_id).first()
        if existing is not None:
            return existing
        reason = refusal_reason(product_ids=[p.product_id for p in parcels], units=units)
        shipment = Shipment.objects.create(
            shipment_id=timestamped_id("SHP"),
            order_id=order_id,
            status=Shipment.Status.FAILED if reason else Shipment.Status.CREATED,
            units=units,
            address=address.as_json(),
            reason=(reason or "")[:200],
        )
        if reason:
            shipment_failed.send(
                sender=Shipment, event=ShipmentFailed(order_id=order_id, reason=reason)
            )
        else:
            shipment_created.send(
                sender=Shipment,
                event=ShipmentCreated(
                    order_id=order_id,
                    shipment_id=shipment.shipment_id,
                    units=units,
                    country=address.country,
                ),
            )
    return shipment
