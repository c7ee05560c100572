"""Reads of the catalog; other apps (orders) read prices and stock through these."""

from __future__ import annotations

from decimal import Decimal

from django.db.models import QuerySet

from .models import Product


def product_list() -> QuerySet[Product]:
    return Product.objects.order_by("product_id")


def product_prices(*, product_ids: list[str]) -> dict[str, Decimal]:
    """Catalog price of each known product among ``product_ids``."""
    return dict(
        Product.objects.filter(product_id__in=product_ids).values_list("product_id", "price")
    )
