"""Reads of notifications' own data."""

from __future__ import annotations

from .models import OrderStatusView


def order_status_of(*, order_id: str) -> OrderStatusView | None:
    """The newest status notifications have seen for the order, if any."""
    return OrderStatusView.objects.filter(order_id=order_id).first()
