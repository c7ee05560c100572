"""One shipment attempt per order: booked, or failed with the carrier's reason."""

from django.db import models


class Shipment(models.Model):
    class Status(models.TextChoices):
        CREATED = "created"
        FAILED = "failed"

    shipment_id = models.CharField(max_length=64, primary_key=True)
    order_id = models.CharField(max_length=64, unique=True)
    status = models.CharField(max_length=20, choices=Status.choices)
    units = models.PositiveIntegerField()
    address = models.JSONField(help_text="Wire form of orders.events.ShippingAddress")
    reason = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.shipment_id} {self.order_id} ({self.status})"
