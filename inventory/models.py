"""The catalog and its stock, and the reservations made against it."""

from django.db import models


class Product(models.Model):
    product_id = models.CharField(max_length=64, primary_key=True)
    name = models.CharField(max_length=200)
    price = models.DecimalField(max_digits=12, decimal_places=2)
    stock = models.PositiveIntegerField()

    class Meta:
        ordering = ["product_id"]
        constraints = [
            models.CheckConstraint(condition=models.Q(stock__gte=0), name="stock_never_negative"),
            models.CheckConstraint(condition=models.Q(price__gte=0), name="price_not_negative"),
        ]

    def __str__(self) -> str:
        return f"{self.product_id} {self.name}"


class Reservation(models.Model):
    """Stock held for one order line; released by a compensation (the saga)."""

    order_id = models.CharField(max_length=64, db_index=True)
    product = models.ForeignKey(Product, on_delete=models.PROTECT, related_name="reservations")
    quantity = models.PositiveIntegerField()
    created_at = models.DateTimeField(auto_now_add=True)
    released_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["order_id", "product"], name="one_reservation_per_line"
            ),
            models.CheckConstraint(condition=models.Q(quantity__gt=0), name="reservation_positive"),
        ]

    def __str__(self) -> str:
        return f"{self.order_id}: {self.quantity} x {self.product_id}"
