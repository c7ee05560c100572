"""When the simulated carrier refuses a shipment: size, blocked products, an operator's switch.

``EVENTHUB_SHIPPING_MAX_UNITS`` (default 20) is the most units one parcel takes;
``EVENTHUB_SHIPPING_BLOCKED_PRODUCTS`` (comma-separated product IDs, default none) are never
shipped. The fault switch (``eventhub.models.FaultRule``) named ``shipping.carrier`` makes the
carrier refuse always, the next N shipments or a percentage of them. Its latency is ignored
(the carrier answers inside the handler's transaction); put latency on the subscriber
``shipping.create_shipment`` to slow shipping down.
"""

from __future__ import annotations

import os
from collections.abc import Iterable

from django.core.exceptions import ImproperlyConfigured

from eventhub.faults import fault_fires, fault_switch

CARRIER = fault_switch("shipping.carrier", "the simulated carrier refuses shipments")
DEFAULT_MAX_UNITS = 20


def max_units() -> int:
    raw = (os.environ.get("EVENTHUB_SHIPPING_MAX_UNITS") or "").strip()
    if not raw:
        return DEFAULT_MAX_UNITS
    if not raw.isdigit() or int(raw) < 1:
        raise ImproperlyConfigured(f"EVENTHUB_SHIPPING_MAX_UNITS: {raw!r} must be an integer >= 1")
    return int(raw)


def blocked_products() -> set[str]:
    raw = os.environ.get("EVENTHUB_SHIPPING_BLOCKED_PRODUCTS") or ""
    return {p.strip() for p in raw.split(",") if p.strip()}


def refusal_reason(*, product_ids: Iterable[str], units: int) -> str | None:
    """Why the carrier refuses the parcel, or None when it takes it."""
    limit = max_units()
    if units > limit:
        return f"shipment_refused: {units} units are more than a parcel takes ({limit})"
    blocked = sorted(set(product_ids) & blocked_products())
    if blocked:
        return f"shipment_refused: {', '.join(blocked)} cannot be shipped"
    if fault_fires(CARRIER):
        return f"shipment_refused: the carrier refused (fault switch {CARRIER})"
    return None
