"""The shop page's state: the catalog's live stock and the orders this browser placed.

Only public data leaves here: product stock and prices, and orders whose ids the shopper's
own session remembers (placed through the shop page), never anyone else's.
"""

from __future__ import annotations

from typing import Any

from django.contrib.sessions.backends.base import SessionBase

from eventhub.models import Delivery
from inventory.selectors import product_json, product_list

from .api import order_json
from .models import Order

SESSION_KEY = "shop_order_ids"
REMEMBERED = 20
"""How many of its latest orders a session keeps (and the page shows)."""


def session_order_ids(session: SessionBase) -> list[str]:
    ids = session.get(SESSION_KEY, [])
    return [i for i in ids if isinstance(i, str)][:REMEMBERED] if isinstance(ids, list) else []


def session_order_remember(session: SessionBase, order_id: str) -> None:
    """Put ``order_id`` first in the session's list (newest first, at most REMEMBERED)."""
    ids = [order_id, *(i for i in session_order_ids(session) if i != order_id)]
    session[SESSION_KEY] = ids[:REMEMBERED]


def dead_letters_holding(correlation_ids: list[str]) -> dict[str, list[dict[str, str]]]:
    """Per correlation ID, the dead letters its flow waits on (a pending order goes no further
    until staff retry or discard them)."""
    held: dict[str, list[dict[str, str]]] = {}
    rows = (
        Delivery.objects.filter(
            status=Delivery.Status.DEAD, event__correlation_id__in=correlation_ids
        )
        .order_by("dead_at", "id")
        .values_list("event__correlation_id", "subscriber", "event__event_type")
    )
    for correlation_id, subscriber, event_type in rows:
        held.setdefault(correlation_id, []).append(
            {"subscriber": subscriber, "eventType": event_type}
        )
    return held


def shop_snapshot(*, order_ids: list[str]) -> dict[str, Any]:
    """Products with their stock, and the given orders (newest first); a pending order says
    which dead letters it waits on (``waitingOn``)."""
    orders = list(
        Order.objects.prefetch_related("lines", "saga_steps").filter(order_id__in=order_ids)
    )
    pending = [o.correlation_id for o in orders if o.status == Order.Status.PENDING]
    held = dead_letters_holding(pending) if pending else {}
    by_id = {
        o.order_id: {**order_json(o), "waitingOn": held.get(o.correlation_id, [])} for o in orders
    }
    return {
        "products": [product_json(p) for p in product_list()],
        "orders": [by_id[i] for i in order_ids if i in by_id],
    }
