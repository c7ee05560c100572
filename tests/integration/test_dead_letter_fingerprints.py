"""Dead letters grouped by failure fingerprint where the operator looks: admin and dashboard."""

from __future__ import annotations

import traceback

import pytest
from django.contrib.auth.models import Permission, User
from django.db import transaction
from django.db.models import F
from django.test import Client

from eventhub.bus.delivery import fail_attempt
from eventhub.dashboard.timeline import dead_letters
from eventhub.models import Attempt, Delivery, Event
from orders.services import ItemInput, order_place

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

FAILED = "notifications.order_confirmation"


def charge_card(order_id: str) -> None:
    raise ValueError(f"card declined for order {order_id}")


def look_up_rate(order_id: str) -> None:
    raise ValueError(f"no rate for order {order_id}")


def dies_on_its_last_attempt(fails: object) -> Delivery:
    """An order's confirmation delivery, running its last attempt, failing in ``fails``."""
    with transaction.atomic():
        order = order_place(user_id="user-fp", items=[ItemInput("PROD-001", 1, None)])
    event = Event.objects.get(event_type="order.created", aggregate_id=order.order_id)
    Delivery.objects.filter(event=event).update(status=Delivery.Status.SUCCEEDED)
    delivery = Delivery.objects.get(event=event, subscriber=FAILED)
    Delivery.objects.filter(pk=delivery.pk).update(
        status=Delivery.Status.RUNNING, attempts=F("max_attempts")
    )
    delivery.refresh_from_db()
    Attempt.objects.create(
        delivery=delivery, number=delivery.attempts, worker="test", started_at=delivery.created_at
    )
    try:
        fails(order.order_id)  # type: ignore[operator]
    except ValueError as exc:
        fail_attempt(
            delivery_id=delivery.pk,
            attempt_number=delivery.attempts,
            error=f"{type(exc).__name__}: {exc}",
            # From the handler's frame down, as when the bus (eventhub/bus) calls it.
            tb="".join(traceback.format_exception(type(exc), exc, exc.__traceback__.tb_next)),
            retryable=True,
        )
    delivery.refresh_from_db()
    return delivery


def test_the_fingerprint_is_recorded_with_the_dead_letter_and_groups_differing_messages(
    catalog: None, redis_server: object
):
    """(Dead-lettering records event.processing.failed, whose deliveries are dispatched: to
    the suite's Redis, not a default broker whose pool later tests would inherit.)"""
    first = dies_on_its_last_attempt(charge_card)
    second = dies_on_its_last_attempt(charge_card)
    other = dies_on_its_last_attempt(look_up_rate)

    assert first.status == second.status == Delivery.Status.DEAD
    assert first.last_error != second.last_error  # the message names the order
    here = __name__
    assert first.fingerprint == second.fingerprint == f"ValueError at {here}:charge_card"
    assert other.fingerprint == f"ValueError at {here}:look_up_rate"

    panel = {g["fingerprint"]: g for g in dead_letters()["groups"]}
    assert panel[first.fingerprint]["count"] == 2
    assert panel[other.fingerprint]["count"] == 1
    assert panel[first.fingerprint]["firstSeen"] <= panel[first.fingerprint]["lastSeen"]
    assert panel[first.fingerprint]["firstSeen"] == int(first.dead_at.timestamp() * 1000)
    assert panel[first.fingerprint]["lastSeen"] == int(second.dead_at.timestamp() * 1000)

    viewer = User.objects.create_user("viewer", password="pw", is_staff=True)
    viewer.user_permissions.set(Permission.objects.filter(codename="view_deadletter"))
    client = Client()
    client.force_login(viewer)
    html = client.get("/admin/eventhub/deadletter/groups/").content.decode()
    assert html.count('class="dead-letter-group"') == 2
    assert f"<code>ValueError at {here}:charge_card</code>" in html
    row = html.split(f"{here}:charge_card</code>", 1)[1]
    assert '<td class="count">2</td>' in row.split("</tr>", 1)[0]
