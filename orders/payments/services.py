"""Writes of the payment service: authorise an order's total, refund it."""

from __future__ import annotations

from decimal import Decimal

from django.db import transaction
from django.utils import timezone

from eventhub.bus import NonRetryableError
from eventhub.ids import timestamped_id
from orders.events import ShippingAddress

from .events import (
    PaidItem,
    PaymentAuthorized,
    PaymentFailed,
    PaymentRefunded,
    payment_authorized,
    payment_failed,
    payment_refunded,
)
from .models import Payment
from .rules import decline_reason


def payment_authorize(
    *,
    order_id: str,
    amount: Decimal,
    items: list[PaidItem],
    shipping_address: ShippingAddress,
) -> Payment:
    """Authorise or decline the order's total and announce the outcome, once per order.

    ``items`` and ``shipping_address`` are not the payment's: an authorisation passes them on
    to shipping in ``payment.authorized``.
    """
    with transaction.atomic():
        existing = Payment.objects.select_for_update().filter(order_id=order_id).first()
        if existing is not None:
            return existing
        reason = decline_reason(amount)
        payment = Payment.objects.create(
            payment_id=timestamped_id("PAY"),
            order_id=order_id,
            amount=amount,
            status=Payment.Status.DECLINED if reason else Payment.Status.AUTHORIZED,
            reason=(reason or "")[:200],
        )
        if reason:
            payment_failed.send(
                sender=Payment,
                event=PaymentFailed(order_id=order_id, amount=amount, reason=reason),
            )
        else:
            payment_authorized.send(
                sender=Payment,
                event=PaymentAuthorized(
                    order_id=order_id,
                    payment_id=payment.payment_id,
                    amount=amount,
                    items=items,
                    shipping_address=shipping_address,
                ),
            )
    return payment


def payment_refund(*, order_id: str, reason: str) -> Payment:
    """Give back the order's authorised payment and announce it; a second call does nothing."""
    with transaction.atomic():
        payment = Payment.objects.select_for_update().filter(order_id=order_id).first()
        if payment is None or payment.status == Payment.Status.DECLINED:
            raise NonRetryableError(f"order {order_id} has no authorised payment to refund")
        if payment.status == Payment.Status.REFUNDED:
            return payment
        payment.status = Payment.Status.REFUNDED
        payment.refunded_at = timezone.now()
        payment.reason = reason[:200]
        payment.save(update_fields=["status", "refunded_at", "reason"])
        payment_refunded.send(
            sender=Payment,
            event=PaymentRefunded(
                order_id=order_id,
                payment_id=payment.payment_id,
                amount=payment.amount,
                reason=reason,
            ),
        )
    return payment
