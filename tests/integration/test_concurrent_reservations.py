"""Concurrent orders never oversell: 50 orders of 1 unit against a stock of 10."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest
from django.db import connection

from eventhub.models import Delivery
from inventory.models import Product, Reservation
from orders.models import Order
from tests.conftest import wait_until
from tests.integration.flows import UNFINISHED, place_order

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


def _place(index: int) -> dict:
    try:
        return place_order(
            {"userId": f"buyer-{index}", "items": [{"productId": "PROD-T", "quantity": 1}]}
        )
    finally:
        connection.close()


def test_fifty_concurrent_orders_for_ten_units_reserve_exactly_ten(start_worker, relay):
    start_worker(concurrency=4)
    start_worker(concurrency=2)
    Product.objects.create(product_id="PROD-T", name="Scarce", price=10, stock=10)

    with ThreadPoolExecutor(max_workers=10) as pool:
        orders = list(pool.map(_place, range(50)))
    assert len({o["orderId"] for o in orders}) == 50

    wait_until(
        lambda: (
            not Order.objects.filter(status=Order.Status.PENDING).exists()
            and not Delivery.objects.filter(status__in=UNFINISHED).exists()
        ),
        timeout=180,
        interval=0.2,
        message="all 50 orders to be decided",
    )
    assert Product.objects.get(pk="PROD-T").stock == 0
    assert Reservation.objects.filter(product_id="PROD-T").count() == 10
    assert Order.objects.filter(status=Order.Status.CONFIRMED).count() == 10
    assert Order.objects.filter(status=Order.Status.REJECTED).count() == 40
    confirmed = set(Order.objects.filter(status="confirmed").values_list("order_id", flat=True))
    reserved = set(Reservation.objects.values_list("order_id", flat=True))
    assert confirmed == reserved
    assert not Delivery.objects.exclude(status=Delivery.Status.SUCCEEDED).exists()
