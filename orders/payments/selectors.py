"""Reads of payments."""

from __future__ import annotations

from decimal import Decimal

from django.db.models import Sum

from .models import Payment


def payment_totals() -> dict[str, Decimal]:
    """The sum of the amounts per payment status (for reconciliation)."""
    rows = Payment.objects.values("status").annotate(total=Sum("amount"))
    return {row["status"]: row["total"] for row in rows}
