from django.apps import AppConfig


class ShippingConfig(AppConfig):
    """The simulated shipping service: books a shipment once the payment is authorised."""

    name = "inventory.shipping"
    label = "shipping"
    verbose_name = "Shipping (simulated)"
    default_auto_field = "django.db.models.BigAutoField"
