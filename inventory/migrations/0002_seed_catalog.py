"""The seed's catalog (R6), present after the first migrate."""

from django.db import migrations

from inventory.catalog import CATALOG


def seed(apps, schema_editor):
    Product = apps.get_model("inventory", "Product")
    for product_id, name, price, stock in CATALOG:
        Product.objects.get_or_create(
            product_id=product_id, defaults={"name": name, "price": price, "stock": stock}
        )


class Migration(migrations.Migration):
    dependencies = [("inventory", "0001_initial")]
    operations = [migrations.RunPython(seed, migrations.RunPython.noop)]
