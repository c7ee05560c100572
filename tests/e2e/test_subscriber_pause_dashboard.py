"""In the browser: an operator pauses a subscriber with the dashboard's switch, sees it
paused with its held count going up live as orders arrive, then resumes it and sees the
held deliveries go out."""

from __future__ import annotations

import pytest
from django.contrib.admin.models import LogEntry
from playwright.sync_api import expect

from eventhub.models import Delivery, SubscriberPause
from notifications.models import Notification
from tests.conftest import http_json, wait_until
from tests.integration.flows import SEED_ORDER

from .browser import STAFF_USERNAME, log_in, watch_dialogs

pytestmark = [pytest.mark.e2e, pytest.mark.integration, pytest.mark.django_db(transaction=True)]

PAUSED = "notifications.order_confirmation"


def test_the_pause_switch_holds_deliveries_live_and_resume_sends_them(stack, new_page):
    page = new_page()
    dialogs = watch_dialogs(page)
    log_in(page, stack.url)
    expect(page.locator("#conn")).to_have_attribute("data-state", "live")
    row = page.locator(f'#subscriber-pauses tr[data-subscriber="{PAUSED}"]')
    expect(row.locator(".pause-state")).to_have_text("running")

    page.fill("#pause-reason", "<b>mail relay</b> down")
    row.get_by_role("checkbox").check()
    expect(row).to_have_attribute("data-state", "paused")
    expect(row.locator(".pause-state")).to_have_text("paused · 0 held")
    expect(page.locator("#pause-note")).to_contain_text(f"{PAUSED} is paused")

    placed = [http_json("POST", f"{stack.url}/orders", SEED_ORDER)["data"] for _ in range(3)]
    assert all(p["status"] == "pending" for p in placed)
    # Live: the held count follows the orders without a reload.
    expect(row.locator(".pause-state")).to_have_text("paused · 3 held", timeout=30_000)
    assert not Notification.objects.filter(kind=Notification.Kind.ORDER_CONFIRMATION).exists()
    assert not Delivery.objects.filter(subscriber=PAUSED, attempts__gt=0).exists()
    entry = LogEntry.objects.get()
    assert entry.user.username == STAFF_USERNAME
    assert entry.change_message == f"Paused {PAUSED}: <b>mail relay</b> down"
    assert SubscriberPause.objects.get().reason == "<b>mail relay</b> down"

    row.get_by_role("checkbox").uncheck()
    expect(page.locator("#pause-note")).to_contain_text(f"{PAUSED} is resuming")
    expect(row).to_have_attribute("data-state", "running", timeout=30_000)
    expect(row.locator(".pause-state")).to_have_text("running")
    wait_until(
        lambda: Notification.objects.filter(kind=Notification.Kind.ORDER_CONFIRMATION).count() == 3,
        message="the three held confirmations to be sent",
    )
    assert LogEntry.objects.count() == 2
    assert not page.locator("b").count()  # the reason stayed text
    assert dialogs == []
