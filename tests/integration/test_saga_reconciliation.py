"""200 mixed orders through the saga with two competing workers: stock and payments
reconcile with the orders' outcomes."""

from __future__ import annotations

import json
import time
from collections import Counter, defaultdict
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal
from typing import Any

import pytest
from django.db import connection
from django.db.models import Sum

from eventhub.models import Delivery
from inventory.models import Product, Reservation
from inventory.shipping.models import Shipment
from orders.models import Order, OrderCount, OrderLine
from orders.payments.models import Payment
from orders.payments.selectors import payment_totals
from tests.conftest import wait_until
from tests.integration.flows import UNFINISHED, place_order

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

ORDERS = 200
STOCK = {"REC-A": 100_000, "REC-B": 100_000, "REC-S": 15}
PRICES = {"REC-A": 100, "REC-B": 30_000, "REC-S": 5}


def _body(index: int) -> tuple[str, dict[str, Any]]:
    """The kind of order number ``index`` and its request: five kinds, 40 of each."""
    user = f"buyer-{index}"
    match index % 5:
        case 0:
            items = [{"productId": "REC-A", "quantity": 1 + index % 3}]
            return "happy", {"userId": user, "items": items}
        case 1:
            items = [{"productId": "REC-A", "quantity": 2}, {"productId": "REC-B", "quantity": 1}]
            return "happy", {"userId": user, "items": items}
        case 2:  # 4 x 30000 = 120000: over the payment limit
            return "payment", {"userId": user, "items": [{"productId": "REC-B", "quantity": 4}]}
        case 3:  # 21 units: more than a parcel takes
            return "shipment", {"userId": user, "items": [{"productId": "REC-A", "quantity": 21}]}
        case _:  # 40 orders for the 15 scarce units
            return "scarce", {"userId": user, "items": [{"productId": "REC-S", "quantity": 1}]}


def _place(index: int) -> tuple[str, dict[str, Any]]:
    kind, body = _body(index)
    try:
        return kind, place_order(body)
    finally:
        connection.close()


def test_two_hundred_mixed_orders_reconcile_stock_and_payments(start_worker, relay):
    for product_id, stock in STOCK.items():
        Product.objects.create(
            product_id=product_id, name=product_id, price=PRICES[product_id], stock=stock
        )
    start_worker(concurrency=3)
    start_worker(concurrency=3)

    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=8) as pool:
        placed = list(pool.map(_place, range(ORDERS)))
    kinds = {order["orderId"]: kind for kind, order in placed}
    assert len(kinds) == ORDERS

    wait_until(
        lambda: (
            not Order.objects.filter(status=Order.Status.PENDING).exists()
            and not Delivery.objects.filter(status__in=UNFINISHED).exists()
        ),
        timeout=240,
        interval=0.25,
        message="all 200 sagas to finish",
    )
    elapsed = time.monotonic() - started

    # Every order ended as its kind says; the scarce product sold exactly its stock.
    outcome = Counter((kinds[o], s) for o, s in Order.objects.values_list("order_id", "status"))
    assert outcome == {
        ("happy", "confirmed"): 80,
        ("payment", "cancelled"): 40,
        ("shipment", "cancelled"): 40,
        ("scarce", "confirmed"): 15,
        ("scarce", "rejected"): 25,
    }
    confirmed = set(Order.objects.filter(status="confirmed").values_list("order_id", flat=True))
    cancelled = set(Order.objects.filter(status="cancelled").values_list("order_id", flat=True))

    # Stock: what left each product is what the held reservations say, which is what the
    # confirmed orders bought. Cancelled orders' reservations were all released.
    held: dict[str, int] = defaultdict(int)
    for product_id, quantity in Reservation.objects.filter(released_at=None).values_list(
        "product_id", "quantity"
    ):
        held[product_id] += quantity
    bought: dict[str, int] = defaultdict(int)
    for product_id, quantity in OrderLine.objects.filter(order_id__in=confirmed).values_list(
        "product_id", "quantity"
    ):
        bought[product_id] += quantity
    left = Product.objects.filter(pk__in=STOCK).values_list("pk", "stock")
    taken = {product_id: STOCK[product_id] - stock for product_id, stock in left}
    assert taken == dict(held) == dict(bought)
    assert set(Reservation.objects.filter(released_at=None).values_list("order_id", flat=True)) == (
        confirmed
    )
    assert (
        set(Reservation.objects.exclude(released_at=None).values_list("order_id", flat=True))
        == cancelled
    )
    assert Product.objects.get(pk="REC-S").stock == 0

    # Payments: what is still authorised is what the confirmed orders cost; what was refunded
    # is what the refused shipments cost; declined payments never charged anything.
    def total(orders: set[str]) -> Decimal:
        return Order.objects.filter(order_id__in=orders).aggregate(t=Sum("total_amount"))["t"]

    totals = payment_totals()

    def paid(status: str) -> Decimal:
        return totals[status]

    shipment_failed = {o for o, k in kinds.items() if k == "shipment"}
    payment_failed = {o for o, k in kinds.items() if k == "payment"}
    assert paid("authorized") == total(confirmed)
    assert paid("refunded") == total(shipment_failed)
    assert paid("declined") == total(payment_failed)
    assert set(Payment.objects.values_list("order_id", flat=True)) == (
        confirmed | shipment_failed | payment_failed
    )
    assert Shipment.objects.filter(status="created").count() == len(confirmed)
    assert Shipment.objects.filter(status="failed").count() == len(shipment_failed)

    # Every delivery succeeded once; the at-most-once counters saw every order.
    assert set(Delivery.objects.values_list("status", flat=True)) == {Delivery.Status.SUCCEEDED}
    counts = dict(OrderCount.objects.values_list("outcome", "count"))
    assert counts == {"confirmed": 95, "cancelled": 80, "rejected": 25}

    print(
        "reconciliation:",
        json.dumps(
            {
                "orders": ORDERS,
                "seconds": round(elapsed, 1),
                "deliveries": Delivery.objects.count(),
                "outcomes": {f"{k}/{s}": n for (k, s), n in sorted(outcome.items())},
                "stock_taken": taken,
                "reserved_held": dict(held),
                "confirmed_quantities": dict(bought),
                "authorized": str(paid("authorized")),
                "confirmed_total": str(total(confirmed)),
                "refunded": str(paid("refunded")),
                "declined": str(paid("declined")),
            },
            sort_keys=True,
        ),
    )
