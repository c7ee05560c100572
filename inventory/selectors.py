"""Reads of the catalog; other apps (orders) read prices and stock through these (SPEC R6,
the one import between apps other than events: see the import contracts in pyproject)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django.db.models import QuerySet

from eventhub.json_numbers import json_number

from .models import Product


def product_list() -> QuerySet[Product]:
    return Product.objects.order_by("product_id")


def product_prices(*, product_ids: list[str]) -> dict[str, Decimal]:
    """Catalog price of each known product among ``product_ids``."""
    return dict(
        Product.objects.filter(product_id__in=product_ids).values_list("product_id", "price")
    )


def product_json(product: Product) -> dict[str, Any]:
    """A product as ``GET /inventory`` and the shop page show it."""
    return {
        "productId": product.product_id,
        "name": product.name,
        "stock": product.stock,
        "price": json_number(product.price),
    }
