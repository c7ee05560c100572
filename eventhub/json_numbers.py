"""Decimals as JSON numbers, the way the seed shows money: ``6999``, not ``"6999.00"``.

A whole value becomes an int and any other a float, so prices and totals read as numbers in
the API, in the shop's snapshot and in stored events alike. JSON writes a float as its
shortest repr, so a two-decimal amount (``1000.01``) reads back as written.
"""

from __future__ import annotations

from decimal import Decimal


def json_number(value: Decimal) -> int | float:
    return int(value) if value == value.to_integral_value() else float(value)
