"""Edit & retry in the browser, the repair loop with bad data.

A buggy producer stored an order.created whose ``totalAmount`` is a string: every subscriber
of the type fails to decode it (not retryable) and dead-letters it at once. From the
dashboard's dead-letter panel the operator opens the editor, fixes the field, sees the diff,
confirms with a reason; the correction (a new event) goes to the confirmation mail only and
succeeds: one mail, for the corrected event; the original is resolved and never sent again.
"""

from __future__ import annotations

import json

import pytest
from django.db import transaction
from playwright.sync_api import expect

from eventhub.bus.relay import relay_once
from eventhub.models import Delivery, Event
from notifications.models import Notification
from orders.services import ItemInput, order_place
from tests.conftest import wait_until

from .browser import log_in

pytestmark = [pytest.mark.e2e, pytest.mark.integration, pytest.mark.django_db(transaction=True)]

FAILING = "notifications.order_confirmation"


def order_with_a_bad_payload() -> Event:
    """An order whose order.created was stored with ``totalAmount`` as a string (a producer
    bug that the schema on the consumer side catches)."""
    with transaction.atomic():
        order = order_place(user_id="user-repair", items=[ItemInput("PROD-001", 1, None)])
        event = Event.objects.get(event_type="order.created", aggregate_id=order.order_id)
        event.data = {**event.data, "totalAmount": f"{event.data['totalAmount']}.00"}
        event.save(update_fields=["data"])
    return event


def test_operator_fixes_a_bad_payload_in_the_browser_and_only_the_correction_is_delivered(
    stack, new_page
):
    dashboard = new_page()
    log_in(dashboard, stack.url)
    expect(dashboard.locator("#conn")).to_have_attribute("data-state", "live")

    event = order_with_a_bad_payload()
    deliveries = Delivery.objects.filter(event=event)
    wait_until(
        lambda: deliveries.filter(status=Delivery.Status.DEAD).count() == deliveries.count(),
        timeout=60,
        message="every subscriber of the bad order.created to dead-letter it",
    )
    dead = deliveries.get(subscriber=FAILING)
    dead_total = deliveries.count()
    expect(dashboard.locator("#dead-total")).to_have_text(str(dead_total))
    # Its group on the panel: the fingerprint (no project frame under the bus's decoding, so
    # the exception type alone), first and last seen.
    group = dashboard.locator(f'#dead-groups tr[data-subscriber="{FAILING}"]')
    expect(group.locator(".fingerprint")).to_have_text("NonRetryableError")
    expect(group.locator("time.first-seen")).to_have_attribute("data-at", str(int(
        dead.dead_at.timestamp() * 1000)))  # fmt: skip
    row = dashboard.locator(f'#dead-recent li[data-delivery="{dead.pk}"]')
    expect(row).to_contain_text("data.totalAmount: expected number, got string")

    # From the dashboard to the admin's editor.
    row.get_by_role("link", name="Edit & retry").click()
    page = dashboard
    expect(page.locator("#edit-retry")).to_contain_text(f"Dead letter {dead.pk}")
    offered = json.loads(page.locator("#id_data").input_value())
    assert offered["totalAmount"] == event.data["totalAmount"]
    fixed = {**offered, "totalAmount": 6999}
    page.fill("#id_data", json.dumps(fixed, indent=2, sort_keys=True))
    expect(page.locator("#id_reason")).to_have_attribute("required", "")
    page.fill("#id_reason", "producer sent the amount as text")
    page.get_by_role("button", name="Preview the changes").click()

    diff = page.locator("#edit-retry-diff")
    expect(diff).to_contain_text('-  "totalAmount": "6999.00",')
    expect(diff).to_contain_text('+  "totalAmount": 6999,')
    assert (
        Event.objects.filter(causation_id=event.event_id, event_type=event.event_type).count() == 0
    )  # not before confirm
    page.get_by_role("button", name="Confirm").click()
    expect(page.locator(".messagelist")).to_contain_text(f"Dead letter {dead.pk} resolved by")

    correction = Event.objects.get(causation_id=event.event_id, event_type=event.event_type)
    [sent] = Delivery.objects.filter(event=correction)
    assert sent.subscriber == FAILING
    wait_until(
        lambda: Delivery.objects.get(pk=sent.pk).status == Delivery.Status.SUCCEEDED,
        timeout=30,
        message="the correction to be delivered",
    )
    [mail] = Notification.objects.filter(order_id=event.aggregate_id)
    assert mail.event_id == correction.event_id
    assert "total amount 6999" in mail.body

    # The original stays resolved and unsent; the other dead letters of the event are untouched.
    dead.refresh_from_db()
    attempts, seq = dead.attempts, dead.dispatch_seq
    for _ in range(3):
        relay_once()
    dead.refresh_from_db()
    assert (dead.status, dead.attempts, dead.dispatch_seq) == (
        Delivery.Status.RESOLVED, attempts, seq,
    )  # fmt: skip
    assert deliveries.filter(status=Delivery.Status.DEAD).count() == dead_total - 1
    assert Notification.objects.filter(order_id=event.aggregate_id).count() == 1

    live = new_page()
    log_in(live, stack.url)
    expect(live.locator("#dead-total")).to_have_text(str(dead_total - 1))
    expect(live.locator(f'#dead-recent li[data-delivery="{dead.pk}"]')).to_have_count(0)

    # In the flow: the correction, marked as such, with its one delivery and nothing "missing".
    flow = live.locator(f'.flow[data-cid="{event.correlation_id}"]')
    flow.locator(".flow-head").click()
    fixed_row = flow.locator(f'.ev-row[data-event-id="{correction.event_id}"]')
    expect(fixed_row.locator(".badge.correction")).to_contain_text(f"for {FAILING}")
    expect(fixed_row.locator(f'.chip.delivery[data-subscriber="{FAILING}"]')).to_have_attribute(
        "data-status", "succeeded"
    )
    expect(fixed_row.locator(".chip.missing")).to_have_count(0)
    original_row = flow.locator(f'.ev-row[data-event-id="{event.event_id}"]')
    expect(original_row.locator(f'.chip.delivery[data-subscriber="{FAILING}"]')).to_have_attribute(
        "data-status", "resolved"
    )
