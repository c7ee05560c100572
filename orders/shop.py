"""The shop page's state: the catalog's live stock and the orders this browser placed.

Only public data leaves here: product stock and prices, and orders whose ids the shopper's
own session remembers (placed through the shop page), never anyone else's.
"""

from __future__ import annotations

from typing import Any

from django.contrib.sessions.backends.base import SessionBase

from inventory.api import product_json
from inventory.selectors import product_list

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


def shop_snapshot(*, order_ids: list[str]) -> dict[str, Any]:
    """Products with their stock, and the given orders (newest first)."""
    orders = Order.objects.prefetch_related("lines").filter(order_id__in=order_ids)
    by_id = {o.order_id: order_json(o) for o in orders}
    return {
        "products": [product_json(p) for p in product_list()],
        "orders": [by_id[i] for i in order_ids if i in by_id],
    }
