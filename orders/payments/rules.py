"""When the simulated payment gateway declines: an amount limit and an operator's switch.

``EVENTHUB_PAYMENT_LIMIT`` (default 100000) is the largest amount authorised. The fault
switch (``eventhub.models.FaultRule``) named ``payments.gateway`` makes the gateway decline
always, the next N payments or a percentage of them; it is set from the admin like any
fault rule. Its latency is ignored: the gateway answers inside the handler's transaction,
and sleeping there would hold the database's write lock on SQLite. To slow payments down,
put latency on the subscriber ``payments.authorize_payment`` instead.
"""

from __future__ import annotations

import os
from decimal import Decimal, InvalidOperation

from django.core.exceptions import ImproperlyConfigured

from eventhub.faults import fault_fires, fault_switch

GATEWAY = fault_switch("payments.gateway", "the simulated payment gateway declines payments")
DEFAULT_LIMIT = Decimal("100000")


def payment_limit() -> Decimal:
    raw = (os.environ.get("EVENTHUB_PAYMENT_LIMIT") or "").strip()
    if not raw:
        return DEFAULT_LIMIT
    try:
        limit = Decimal(raw)
    except InvalidOperation:
        raise ImproperlyConfigured(f"EVENTHUB_PAYMENT_LIMIT: {raw!r} is not a number") from None
    if not limit.is_finite() or limit < 0:
        raise ImproperlyConfigured(f"EVENTHUB_PAYMENT_LIMIT: {raw!r} must be a number >= 0")
    return limit


def decline_reason(amount: Decimal) -> str | None:
    """Why the gateway declines ``amount``, or None when it authorises it."""
    limit = payment_limit()
    if amount > limit:
        return f"payment_declined: amount {amount.normalize():f} is over the limit {limit:f}"
    if fault_fires(GATEWAY):
        return f"payment_declined: the gateway refused (fault switch {GATEWAY})"
    return None
