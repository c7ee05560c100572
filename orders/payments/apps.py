from django.apps import AppConfig


class PaymentsConfig(AppConfig):
    """The simulated payment service: authorises an order's total, refunds it on failure."""

    name = "orders.payments"
    label = "payments"
    verbose_name = "Payments (simulated)"
    default_auto_field = "django.db.models.BigAutoField"
