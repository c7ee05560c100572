"""Reads of orders."""

from __future__ import annotations

from django.db.models import QuerySet

from .models import Order


def order_list(*, user_id: str | None = None, status: str | None = None) -> QuerySet[Order]:
    orders = Order.objects.prefetch_related("lines").order_by("-created_at", "-order_id")
    if user_id:
        orders = orders.filter(user_id=user_id)
    if status:
        orders = orders.filter(status=status)
    return orders


def order_get(*, order_id: str) -> Order | None:
    return Order.objects.prefetch_related("lines").filter(order_id=order_id).first()
