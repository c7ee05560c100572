"""What the (simulated) payment service announces about an order's payment."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from eventhub.bus import DomainEvent, DomainSignal, event


@event("payment.authorized", source="payment-service", aggregate="order", aggregate_key="order_id")
@dataclass(frozen=True)
class PaymentAuthorized(DomainEvent):
    """The order's total was authorised (saga step 2 done)."""

    order_id: str
    payment_id: str
    amount: Decimal


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
