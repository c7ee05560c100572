"""The saga is visible in the admin: steps inline on the order, the saga's status in the list,
and the participants' own records."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest
from django.contrib.auth.models import User
from django.test import Client

from inventory.shipping.services import Parcel, shipment_create
from orders.events import store_pickup
from orders.payments.events import PaidItem
from orders.payments.services import payment_authorize
from orders.services import ItemInput, order_place, saga_step_record

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client() -> Client:
    client = Client()
    client.force_login(User.objects.create_superuser("root", password="pw"))
    return client


def test_the_order_page_lists_the_saga_steps_with_their_state(admin_client: Client) -> None:
    order = order_place(user_id="u1", items=[ItemInput("PROD-001", 1, None)])
    at = datetime(2026, 1, 1, tzinfo=UTC)
    saga_step_record(order_id=order.pk, step="reserve_stock", state="done", at=at, detail="1 unit")
    saga_step_record(order_id=order.pk, step="authorize_payment", state="failed", at=at)

    page = admin_client.get(f"/admin/orders/order/{order.pk}/change/")
    assert page.status_code == 200
    html = page.content.decode()
    for text in ("reserve_stock", "authorize_payment", "create_shipment", "1 unit", "compensating"):
        assert text in html, text

    listing = admin_client.get("/admin/orders/order/")
    assert listing.status_code == 200 and "compensating" in listing.content.decode()


def test_payments_and_shipments_have_admin_lists(admin_client: Client) -> None:
    payment = payment_authorize(
        order_id="ORD-1",
        amount=Decimal(10),
        items=[PaidItem("PROD-001", 1)],
        shipping_address=store_pickup("u1"),
    )
    shipment = shipment_create(
        order_id="ORD-1", parcels=[Parcel("PROD-001", 1)], address=store_pickup("u1")
    )
    for url, text in [
        ("/admin/payments/payment/", payment.payment_id),
        ("/admin/shipping/shipment/", shipment.shipment_id),
        ("/admin/orders/ordercount/", ""),
        ("/admin/notifications/orderstatusview/", ""),
    ]:
        response = admin_client.get(url)
        assert response.status_code == 200, url
        assert text in response.content.decode()
