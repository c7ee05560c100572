"""Every notification sent, one per (kind, causing event)."""

from django.db import models


class Notification(models.Model):
    class Kind(models.TextChoices):
        ORDER_CONFIRMATION = "order_confirmation"
        STOCK_CONFIRMED = "stock_confirmed"
        STOCK_FAILURE = "stock_failure"
        ORDER_OUTCOME = "order_outcome"

    kind = models.CharField(max_length=30, choices=Kind.choices)
    order_id = models.CharField(max_length=64, db_index=True)
    event_id = models.UUIDField(help_text="The event that caused this notification")
    recipient = models.CharField(max_length=254)
    subject = models.CharField(max_length=200)
    body = models.TextField()
    sent_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-sent_at"]
        constraints = [
            models.UniqueConstraint(fields=["kind", "event_id"], name="one_notification_per_event")
        ]

    def __str__(self) -> str:
        return f"{self.kind} for {self.order_id} to {self.recipient}"


class OrderStatusView(models.Model):
    """Notifications' own view of each order's status, built from ``order.status.updated``.

    Events may arrive out of order (retries, competing workers): an update older than the
    highest sequence already applied is ignored, so the view always holds the newest status.
    """

    order_id = models.CharField(max_length=64, primary_key=True)
    user_id = models.CharField(max_length=64)
    status = models.CharField(max_length=20)
    previous_status = models.CharField(max_length=20)
    reason = models.CharField(max_length=200, blank=True)
    sequence = models.PositiveBigIntegerField(help_text="Sequence of the event applied last")
    event_id = models.UUIDField()
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "order status (projection)"
        verbose_name_plural = "order statuses (projection)"

    def __str__(self) -> str:
        return f"{self.order_id} {self.status} at sequence {self.sequence}"
