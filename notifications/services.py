"""Sending and recording notifications through Django's mail backends."""

from __future__ import annotations

import re

from django.conf import settings
from django.core.mail import send_mail

from .models import Notification


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
