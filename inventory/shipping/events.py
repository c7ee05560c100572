"""What the (simulated) shipping service announces about an order's shipment."""

from __future__ import annotations

from dataclasses import dataclass

from eventhub.bus import DomainEvent, DomainSignal, event


@event("shipment.created", source="shipping-service", aggregate="order", aggregate_key="order_id")
@dataclass(frozen=True)
class ShipmentCreated(DomainEvent):
    """A shipment was booked for every unit of the order (saga step 3 done)."""

    order_id: str
    shipment_id: str
    units: int
    country: str


@event("shipment.failed", source="shipping-service", aggregate="order", aggregate_key="order_id")
@dataclass(frozen=True)
class ShipmentFailed(DomainEvent):
    """No shipment could be booked (saga step 3 failed)."""

    order_id: str
    reason: str


shipment_created = DomainSignal(ShipmentCreated)
shipment_failed = DomainSignal(ShipmentFailed)
