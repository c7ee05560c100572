"""Sending and recording notifications through Django's mail backends; projecting order
statuses."""

from __future__ import annotations

import re
from dataclasses import dataclass

from django.conf import settings
from django.core.mail import send_mail
from django.db import IntegrityError, transaction

from .models import Notification, OrderStatusView


def recipient_for(user_id: str) -> str:
    """The seed mails ``user-<userId>@example.com``; keep only characters valid in an address."""
    local = re.sub(r"[^A-Za-z0-9._+-]", "_", user_id).strip(".") or "user"
    if not local.startswith("user-"):
        local = f"user-{local}"
    return f"{local}@example.com"


def notification_send(
    *, kind: str, order_id: str, event_id: str, user_id: str, subject: str, body: str
) -> Notification:
    """Record the notification, then mail it; both inside the caller's transaction."""
    notification = Notification.objects.create(
        kind=kind,
        order_id=order_id,
        event_id=event_id,
        recipient=recipient_for(user_id),
        subject=subject,
        body=body,
    )
    send_mail(subject, body, settings.DEFAULT_FROM_EMAIL, [notification.recipient])
    return notification


@dataclass(frozen=True)
class StatusChange:
    order_id: str
    user_id: str
    status: str
    previous_status: str
    reason: str
    sequence: int
    """The event's per-aggregate sequence number."""
    event_id: str


def order_status_apply(*, change: StatusChange) -> bool:
    """Apply ``change`` to the order-status view unless a newer one was applied; True if applied.

    Conditional on the sequence in the database (``sequence < new``), so concurrent and
    out-of-order updates leave the newest status whatever their arrival order.
    """
    values = {
        "user_id": change.user_id,
        "status": change.status,
        "previous_status": change.previous_status,
        "reason": change.reason[:200],
        "sequence": change.sequence,
        "event_id": change.event_id,
    }
    newer = OrderStatusView.objects.filter(order_id=change.order_id, sequence__lt=change.sequence)
    if newer.update(**values):
        return True
    try:
        with transaction.atomic():
            OrderStatusView.objects.create(order_id=change.order_id, **values)
    except IntegrityError:  # it exists: inserted concurrently, or already at a later sequence
        return bool(newer.update(**values))
    return True
