"""Orders, their lines, their saga and the order counters. Writes only through orders.services."""

from django.db import models


class Order(models.Model):
    class Status(models.TextChoices):
        PENDING = "pending"
        CONFIRMED = "confirmed"
        REJECTED = "rejected"
        """Refused before anything was reserved (unknown product, not enough stock)."""
        CANCELLED = "cancelled"
        """A later saga step failed; the finished steps were compensated."""

    order_id = models.CharField(max_length=64, primary_key=True)
    user_id = models.CharField(max_length=64, db_index=True)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.PENDING)
    status_reason = models.CharField(max_length=200, blank=True)
    total_amount = models.DecimalField(max_digits=14, decimal_places=2)
    shipping_address = models.JSONField(
        default=dict,
        blank=True,
        help_text="Wire form of orders.events.ShippingAddress; empty before version 2",
    )
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


class SagaStep(models.Model):
    """One step of an order's saga (seed 7.2) as the order service saw it happen.

    Each timestamp is set once, from the event that reported it, so the events may arrive in
    any order and any number of times. The state is the latest of them: compensated, failed,
    done, else pending.
    """

    class Name(models.TextChoices):
        RESERVE_STOCK = "reserve_stock"
        AUTHORIZE_PAYMENT = "authorize_payment"
        CREATE_SHIPMENT = "create_shipment"

    class State(models.TextChoices):
        PENDING = "pending"
        DONE = "done"
        FAILED = "failed"
        COMPENSATED = "compensated"
        SKIPPED = "skipped"
        """Never ran: an earlier step failed and the saga is over."""

    ORDER = [Name.RESERVE_STOCK, Name.AUTHORIZE_PAYMENT, Name.CREATE_SHIPMENT]

    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="saga_steps")
    name = models.CharField(max_length=30, choices=Name.choices)
    position = models.PositiveSmallIntegerField()
    done_at = models.DateTimeField(null=True, blank=True)
    failed_at = models.DateTimeField(null=True, blank=True)
    compensated_at = models.DateTimeField(null=True, blank=True)
    detail = models.CharField(
        max_length=200, blank=True, help_text="Reference of the result, or the failure's reason"
    )

    class Meta:
        ordering = ["order_id", "position"]
        constraints = [
            models.UniqueConstraint(fields=["order", "name"], name="one_saga_step_per_name"),
        ]

    def __str__(self) -> str:
        return f"{self.order_id} {self.name}: {self.state}"

    @property
    def state(self) -> str:
        if self.compensated_at:
            return self.State.COMPENSATED
        if self.failed_at:
            return self.State.FAILED
        if self.done_at:
            return self.State.DONE
        return self.State.PENDING


class OrderCount(models.Model):
    """Analytics: orders finished per day and outcome (an at-most-once counter)."""

    class Outcome(models.TextChoices):
        CONFIRMED = "confirmed"
        REJECTED = "rejected"
        CANCELLED = "cancelled"

    day = models.DateField()
    outcome = models.CharField(max_length=20, choices=Outcome.choices)
    count = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["-day", "outcome"]
        constraints = [
            models.UniqueConstraint(fields=["day", "outcome"], name="one_count_per_day_outcome")
        ]

    def __str__(self) -> str:
        return f"{self.day} {self.outcome}: {self.count}"
