"""The seed's catalog (R6), present after the first migrate."""

from decimal import Decimal

from django.db import migrations

CATALOG = [
    ("PROD-001", "iPhone 15", Decimal("6999"), 100),
    ("PROD-002", "MacBook Pro", Decimal("14999"), 50),
    ("PROD-003", "AirPods Pro", Decimal("1999"), 200),
]


def seed(apps, schema_editor):
    Product = apps.get_model("inventory", "Product")
    for product_id, name, price, stock in CATALOG:
        Product.objects.get_or_create(
            product_id=product_id, defaults={"name": name, "price": price, "stock": stock}
        )


class Migration(migrations.Migration):
    dependencies = [("inventory", "0001_initial")]
    operations = [migrations.RunPython(seed, migrations.RunPython.noop)]
