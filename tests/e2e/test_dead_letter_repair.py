"""The operator's repair loop in the browser: fault on, dead letter live, fault off, retry from
the admin, success live on the dashboard, exactly one confirmation mail."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from playwright.sync_api import expect

from eventhub.models import Delivery, FaultRule
from notifications.models import Notification
from orders.models import Order
from tests.conftest import WebServer, http_json, wait_until
from tests.integration.flows import SEED_ORDER

from .browser import log_in
from .test_shop_and_dashboard import place_in_shop

pytestmark = [pytest.mark.e2e, pytest.mark.integration, pytest.mark.django_db(transaction=True)]

FAILING = "notifications.order_confirmation"


@pytest.fixture
def slow_retry_stack(
    catalog: None, start_worker: Callable[..., Any], relay: Any, start_web: Callable[..., WebServer]
) -> WebServer:
    """Retries spaced out enough (about 0.3, 0.6, 1.2, 2.4 s) to be watched in a browser."""
    start_worker(EVENTHUB_RETRY_DELAY_SCALE="0.3")
    return start_web()


def chip_of(page: Any, correlation_id: str) -> Any:
    return page.locator(
        f'.flow[data-cid="{correlation_id}"] .ev-row[data-event-type="order.created"] '
        f'.chip.delivery[data-subscriber="{FAILING}"]'
    )


def test_staff_repairs_a_dead_confirmation_mail_and_watches_the_retry_succeed(
    slow_retry_stack, new_page
):
    dashboard = new_page()
    log_in(dashboard, slow_retry_stack.url)
    expect(dashboard.locator("#conn")).to_have_attribute("data-state", "live")

    # Fault switch on, from the dashboard: "fail always" for the confirmation mail.
    row = dashboard.locator(f'#faults tr[data-subscriber="{FAILING}"]')
    row.locator("select").select_option("always")
    expect(row.locator("select")).to_have_value("always")
    row.locator("input[type=checkbox]").check()
    expect(row).to_have_class("fault on")
    wait_until(lambda: FaultRule.objects.filter(subscriber=FAILING, enabled=True).exists())

    shop = new_page()
    shop.goto(f"{slow_retry_stack.url}/")
    order_id = place_in_shop(shop, product="PROD-001", quantity=1, user_id="user-repair")
    correlation_id = Order.objects.get(pk=order_id).correlation_id

    flow = dashboard.locator(f'.flow[data-cid="{correlation_id}"]')
    flow.locator(".flow-head").click()
    chip = chip_of(dashboard, correlation_id)
    expect(chip).to_have_attribute("data-status", "retrying", timeout=30_000)
    expect(chip).to_have_attribute("data-status", "dead", timeout=60_000)
    dead_row = dashboard.locator(f'#dead-recent [data-subscriber="{FAILING}"]')
    expect(dead_row).to_contain_text("InjectedFault")
    expect(dashboard.locator("#dead-total")).to_have_text("1")

    # Fault off, again from the dashboard.
    row.locator("input[type=checkbox]").uncheck()
    expect(row).to_have_class("fault")
    wait_until(lambda: not FaultRule.objects.filter(subscriber=FAILING, enabled=True).exists())

    # Retry from the admin's dead letters.
    admin = new_page()
    log_in(admin, slow_retry_stack.url, next_path="/admin/eventhub/deadletter/")
    delivery = Delivery.objects.get(event__correlation_id=correlation_id, subscriber=FAILING)
    admin.check(f'input[name=_selected_action][value="{delivery.pk}"]')
    admin.select_option("select[name=action]", "retry_selected")
    admin.click("button[name=index]")
    expect(admin.locator(".messagelist")).to_contain_text("Retrying 1 dead letter")

    # Live on the dashboard: the same delivery succeeds, its history continued.
    expect(chip).to_have_attribute("data-status", "succeeded", timeout=60_000)
    expect(dashboard.locator("#dead-total")).to_have_text("0")
    delivery.refresh_from_db()
    assert delivery.attempts == delivery.max_attempts // 2 + 1  # 5 dead attempts, then 1 more
    mails = Notification.objects.filter(order_id=order_id, kind="order_confirmation")
    assert mails.count() == 1


def test_a_discarded_dead_letter_leaves_the_live_panel(slow_retry_stack, new_page):
    FaultRule.objects.create(subscriber=FAILING, enabled=True, mode=FaultRule.Mode.ALWAYS)
    dashboard = new_page()
    log_in(dashboard, slow_retry_stack.url)
    http_json("POST", f"{slow_retry_stack.url}/orders", SEED_ORDER)
    expect(dashboard.locator("#dead-total")).to_have_text("1", timeout=60_000)

    admin = new_page()
    log_in(admin, slow_retry_stack.url, next_path="/admin/eventhub/deadletter/")
    admin.check("input[name=_selected_action]")
    admin.select_option("select[name=action]", "discard_selected")
    admin.click("button[name=index]")
    admin.fill("#id_reason", "duplicate order, refunded by phone")
    admin.click("input[type=submit]")
    expect(admin.locator(".messagelist")).to_contain_text("Discarded 1 dead letter")

    expect(dashboard.locator("#dead-total")).to_have_text("0")
    expect(dashboard.locator(f'#dead-recent [data-subscriber="{FAILING}"]')).to_have_count(0)
    delivery = Delivery.objects.get(subscriber=FAILING)
    assert delivery.status == Delivery.Status.DISCARDED
    assert delivery.discard_reason == "duplicate order, refunded by phone"
