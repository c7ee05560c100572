"""One payment per order: authorised, declined, or refunded after authorisation."""

from django.db import models


class Payment(models.Model):
    class Status(models.TextChoices):
        AUTHORIZED = "authorized"
        DECLINED = "declined"
        REFUNDED = "refunded"

    payment_id = models.CharField(max_length=64, primary_key=True)
    order_id = models.CharField(max_length=64, unique=True)
    amount = models.DecimalField(max_digits=14, decimal_places=2)
    status = models.CharField(max_length=20, choices=Status.choices)
    reason = models.CharField(max_length=200, blank=True, help_text="Why declined or refunded")
    created_at = models.DateTimeField(auto_now_add=True)
    refunded_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(amount__gte=0), name="payment_amount_not_negative"
            ),
            models.CheckConstraint(
                condition=models.Q(status="refunded", refunded_at__isnull=False)
                | (~models.Q(status="refunded") & models.Q(refunded_at__isnull=True)),
                name="payment_refunded_iff_refunded_at",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.payment_id} {self.order_id} {self.amount} ({self.status})"
