"""Orders and their lines. Status changes only through orders.services."""

from django.db import models


class Order(models.Model):
    class Status(models.TextChoices):
        PENDING = "pending"
        CONFIRMED = "confirmed"
        REJECTED = "rejected"

    order_id = models.CharField(max_length=64, primary_key=True)
    user_id = models.CharField(max_length=64, db_index=True)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.PENDING)
    status_reason = models.CharField(max_length=200, blank=True)
    total_amount = models.DecimalField(max_digits=14, decimal_places=2)
    correlation_id = models.CharField(max_length=128, db_index=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(total_amount__gte=0), name="order_total_not_negative"
            )
        ]

    def __str__(self) -> str:
        return f"{self.order_id} ({self.status})"


class OrderLine(models.Model):
    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="lines")
    product_id = models.CharField(max_length=64)
    quantity = models.PositiveIntegerField()
    price = models.DecimalField(max_digits=12, decimal_places=2)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(quantity__gt=0), name="line_quantity_positive"
            ),
            models.UniqueConstraint(fields=["order", "product_id"], name="one_line_per_product"),
        ]

    def __str__(self) -> str:
        return f"{self.quantity} x {self.product_id}"
