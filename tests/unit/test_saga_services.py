"""The saga participants' services on their own: outcomes, rules, and that calling any of them
twice changes nothing (the bus's idempotency record aside).

Plain ``django_db`` tests: nothing commits, so nothing is dispatched; the events each service
publishes are read back from the outbox.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.core.exceptions import ImproperlyConfigured

from eventhub.bus import NonRetryableError
from eventhub.models import Event, FaultRule
from inventory.models import Product, Reservation
from inventory.services import Line, stock_release, stock_reserve
from inventory.shipping.models import Shipment
from inventory.shipping.rules import max_units
from inventory.shipping.services import Parcel, shipment_create
from orders.events import ShippingAddress, store_pickup
from orders.models import Order, SagaStep
from orders.payments.events import PaidItem
from orders.payments.models import Payment
from orders.payments.rules import payment_limit
from orders.payments.services import payment_authorize, payment_refund
from orders.selectors import order_get, order_saga
from orders.services import ItemInput, order_place, order_status_set, saga_step_record

pytestmark = pytest.mark.django_db

T0 = datetime(2026, 1, 1, tzinfo=UTC)
PICKUP = store_pickup("u1")
ITEMS = [PaidItem("PROD-001", 1)]


def authorize(order_id: str, amount: Decimal) -> Payment:
    """Authorise ``amount`` for one unit of PROD-001 collected in store."""
    return payment_authorize(order_id=order_id, amount=amount, items=ITEMS, shipping_address=PICKUP)


def reserve(order_id: str, lines: list[Line]) -> bool:
    return stock_reserve(
        order_id=order_id,
        lines=lines,
        user_id="u1",
        total_amount=Decimal(1),
        shipping_address=PICKUP,
    )


def types() -> list[str]:
    return list(Event.objects.order_by("id").values_list("event_type", flat=True))


def test_an_authorised_payment_is_authorised_once() -> None:
    first = authorize("ORD-1", Decimal("15997"))
    second = authorize("ORD-1", Decimal("15997"))
    assert first.pk == second.pk and first.status == Payment.Status.AUTHORIZED
    assert types() == ["payment.authorized"]
    assert Event.objects.get().data == {
        "orderId": "ORD-1",
        "paymentId": first.payment_id,
        "amount": 15997,
        "items": [{"productId": "PROD-001", "quantity": 1}],
        "shippingAddress": PICKUP.as_json(),
    }


def test_an_amount_over_the_limit_is_declined_naming_both(monkeypatch) -> None:
    monkeypatch.setenv("EVENTHUB_PAYMENT_LIMIT", "1000")
    payment = authorize("ORD-1", Decimal("1000.01"))
    assert payment.status == Payment.Status.DECLINED
    assert payment.reason == "payment_declined: amount 1000.01 is over the limit 1000"
    assert types() == ["payment.failed"]
    assert authorize("ORD-1", Decimal("1")).status == "declined"
    assert types() == ["payment.failed"]


@pytest.mark.parametrize("raw", ["lots", "-1", "NaN"])
def test_a_bad_payment_limit_is_named(monkeypatch, raw: str) -> None:
    monkeypatch.setenv("EVENTHUB_PAYMENT_LIMIT", raw)
    with pytest.raises(ImproperlyConfigured, match="EVENTHUB_PAYMENT_LIMIT"):
        payment_limit()


def test_a_refund_is_made_once_and_needs_an_authorised_payment() -> None:
    with pytest.raises(NonRetryableError, match="no authorised payment"):
        payment_refund(order_id="ORD-1", reason="shipment_refused: x")
    authorize("ORD-1", Decimal("10"))
    payment_refund(order_id="ORD-1", reason="shipment_refused: x")
    payment_refund(order_id="ORD-1", reason="shipment_refused: x")
    payment = Payment.objects.get()
    assert (payment.status, payment.reason) == ("refunded", "shipment_refused: x")
    assert types() == ["payment.authorized", "payment.refunded"]


def test_the_gateway_switch_declines_the_next_n_payments() -> None:
    FaultRule.objects.create(
        subscriber="payments.gateway", enabled=True, mode=FaultRule.Mode.NEXT_N, remaining=2
    )
    statuses = [authorize(f"ORD-{i}", Decimal(1)).status for i in range(3)]
    assert statuses == ["declined", "declined", "authorized"]


def test_releasing_stock_twice_puts_it_back_once() -> None:
    assert reserve("ORD-1", [Line("PROD-001", 3), Line("PROD-003", 1)])
    assert stock_release(order_id="ORD-1", reason="payment_declined: x")
    assert not stock_release(order_id="ORD-1", reason="payment_declined: x")
    assert dict(Product.objects.values_list("pk", "stock")) == {
        "PROD-001": 100,
        "PROD-002": 50,
        "PROD-003": 200,
    }
    assert Reservation.objects.filter(released_at=None).count() == 0
    released = Event.objects.get(event_type="inventory.released").data
    assert released == {
        "orderId": "ORD-1",
        "items": [
            {"productId": "PROD-001", "quantity": 3, "remainingStock": 100},
            {"productId": "PROD-003", "quantity": 1, "remainingStock": 200},
        ],
        "reason": "payment_declined: x",
    }


@pytest.mark.parametrize(
    ("env", "parcels", "status"),
    [
        pytest.param({}, [Parcel("PROD-001", 20)], "created", id="20-units-fit"),
        pytest.param({}, [Parcel("PROD-001", 20), Parcel("PROD-003", 1)], "failed", id="21"),
        pytest.param({"EVENTHUB_SHIPPING_MAX_UNITS": "2"}, [Parcel("PROD-001", 3)], "failed"),
        pytest.param(
            {"EVENTHUB_SHIPPING_BLOCKED_PRODUCTS": "PROD-9, PROD-003"},
            [Parcel("PROD-003", 1)],
            "failed",
            id="blocked",
        ),
    ],
)
def test_shipping_rules(monkeypatch, env: dict[str, str], parcels: list[Parcel], status: str):
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    address = store_pickup("u1")
    shipment = shipment_create(order_id="ORD-1", parcels=parcels, address=address)
    assert shipment.status == status
    again = shipment_create(order_id="ORD-1", parcels=parcels, address=address)
    assert again.pk == shipment.pk and Shipment.objects.count() == 1
    assert types() == [f"shipment.{status}"]


def test_a_bad_max_units_is_named(monkeypatch) -> None:
    monkeypatch.setenv("EVENTHUB_SHIPPING_MAX_UNITS", "0")
    with pytest.raises(ImproperlyConfigured, match="EVENTHUB_SHIPPING_MAX_UNITS"):
        max_units()


def test_a_shipment_carries_the_address_country() -> None:
    address = ShippingAddress("Ann", "5 Rue", "Paris", "75001", "FR")
    shipment_create(order_id="ORD-1", parcels=[Parcel("PROD-001", 1)], address=address)
    assert Event.objects.get().data["country"] == "FR"


def _order() -> Order:
    return order_place(user_id="u1", items=[ItemInput("PROD-001", 1, None)])


def test_a_saga_step_is_stamped_once_and_events_may_come_in_any_order() -> None:
    order = _order()
    step = SagaStep.Name.AUTHORIZE_PAYMENT
    # The refund is recorded before the authorisation it compensates.
    assert saga_step_record(
        order_id=order.pk, step=step, state="compensated", at=T0 + timedelta(seconds=2)
    )
    assert saga_step_record(order_id=order.pk, step=step, state="done", at=T0)
    assert not saga_step_record(order_id=order.pk, step=step, state="done", at=T0 + timedelta(1))
    stored = SagaStep.objects.get(order=order, name=step)
    assert (stored.done_at, stored.state) == (T0, "compensated")


def test_the_saga_view_follows_the_steps_and_the_order_status() -> None:
    order = _order()
    assert order_saga(order_get(order_id=order.pk)).status == "running"
    saga_step_record(order_id=order.pk, step="reserve_stock", state="done", at=T0)
    saga_step_record(order_id=order.pk, step="authorize_payment", state="failed", at=T0)
    saga = order_saga(order_get(order_id=order.pk))
    assert saga.status == "compensating"
    assert [s.state for s in saga.steps] == ["done", "failed", "pending"]

    saga_step_record(order_id=order.pk, step="reserve_stock", state="compensated", at=T0)
    assert order_status_set(order_id=order.pk, status="cancelled", reason="payment_declined")
    saga = order_saga(order_get(order_id=order.pk))
    assert saga.status == "compensated"
    assert [s.state for s in saga.steps] == ["compensated", "failed", "skipped"]


def test_a_final_status_is_kept_and_each_change_names_the_previous_one() -> None:
    order = _order()
    assert order_status_set(order_id=order.pk, status="cancelled", reason="r")
    assert not order_status_set(order_id=order.pk, status="cancelled", reason="r")
    assert not order_status_set(order_id=order.pk, status="confirmed")
    assert Order.objects.get(pk=order.pk).status == "cancelled"
    [update] = Event.objects.filter(event_type="order.status.updated")
    assert (update.data["previousStatus"], update.data["status"]) == ("pending", "cancelled")
