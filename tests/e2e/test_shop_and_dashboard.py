"""In the browser: a shopper's order goes live in the shop and on the staff dashboard."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import expect

from eventhub.models import Delivery, FaultRule
from orders.models import Order
from tests.conftest import http_json, wait_until
from tests.integration.flows import SEED_ORDER

from .browser import log_in, watch_dialogs

pytestmark = [pytest.mark.e2e, pytest.mark.integration, pytest.mark.django_db(transaction=True)]

XSS_USER_ID = "</script><img src=x onerror=alert(1)>"


def place_in_shop(page: Any, *, product: str, quantity: int, user_id: str) -> str:
    page.select_option("#order-product", product)
    page.fill("#order-quantity", str(quantity))
    page.fill("#order-user", user_id)
    page.click("#order-submit")
    expect(page.locator("#order-message")).to_contain_text("placed")
    return page.locator("#orders .order").first.get_attribute("data-order")


def event_rows(page: Any, correlation_id: str) -> Any:
    return page.locator(f'.flow[data-cid="{correlation_id}"] .ev-row')


def test_a_shopper_sees_the_order_confirmed_and_staff_see_its_flow_live(stack, new_page):
    dashboard = new_page()
    log_in(dashboard, stack.url)
    shop = new_page()
    shop.goto(f"{stack.url}/")
    expect(shop.locator("#conn")).to_have_attribute("data-state", "live")
    expect(dashboard.locator("#conn")).to_have_attribute("data-state", "live")
    expect(shop.locator('[data-product="PROD-001"] .stock')).to_have_text("100")
    shop.evaluate("window.__samePage = true")

    order_id = place_in_shop(shop, product="PROD-001", quantity=2, user_id="user-e2e")

    order = shop.locator(f'[data-order="{order_id}"]')
    expect(order.locator("[data-role=status]")).to_have_text("confirmed", timeout=60_000)
    expect(shop.locator('[data-product="PROD-001"] .stock')).to_have_text("98")
    assert shop.evaluate("window.__samePage") is True  # no reload happened

    correlation_id = Order.objects.get(pk=order_id).correlation_id
    flow = dashboard.locator(f'.flow[data-cid="{correlation_id}"]')
    expect(flow).to_be_visible()
    flow.locator(".flow-head").click()
    rows = event_rows(dashboard, correlation_id)
    status_row = rows.filter(has_text="order.status.updated").filter(has_text='"confirmed"')
    expect(status_row).to_have_count(1, timeout=60_000)

    def row_of(event_type: str) -> Any:
        return rows.locator(f'xpath=self::*[@data-event-type="{event_type}"]').first

    created, updated = row_of("order.created"), row_of("inventory.updated")
    assert created.get_attribute("data-caused-by") == ""
    assert updated.get_attribute("data-caused-by") == created.get_attribute("data-event-id")
    # order.status.updated descends from inventory.updated (through the saga's steps, if any).
    by_id = {
        r.get_attribute("data-event-id"): r.get_attribute("data-caused-by") for r in rows.all()
    }
    cause = status_row.get_attribute("data-caused-by")
    while cause and cause != updated.get_attribute("data-event-id"):
        cause = by_id.get(cause)
    assert cause == updated.get_attribute("data-event-id")

    for row, subscriber in (
        (created, "notifications.order_confirmation"),
        (created, "inventory.reserve_stock"),
        (status_row, "notifications.order_outcome"),
    ):
        chip = row.locator(f'.chip.delivery[data-subscriber="{subscriber}"]')
        expect(chip).to_have_attribute("data-status", "succeeded", timeout=60_000)
        expect(chip).to_contain_text("attempt 1/")
        expect(chip).to_contain_text("ms")
    assert not dashboard.locator(".chip.missing").count()


def test_a_dead_letter_appears_live_with_its_error_and_counts_matching_the_database(
    stack, new_page
):
    failing = "notifications.order_confirmation"
    dashboard = new_page()
    log_in(dashboard, stack.url)
    expect(dashboard.locator("#conn")).to_have_attribute("data-state", "live")
    expect(dashboard.locator("#dead-total")).to_have_text("0")

    FaultRule.objects.create(subscriber=failing, enabled=True, mode=FaultRule.Mode.ALWAYS)
    placed = http_json("POST", f"{stack.url}/orders", SEED_ORDER)["data"]
    wait_until(
        lambda: Delivery.objects.filter(status=Delivery.Status.DEAD, subscriber=failing).exists(),
        timeout=60,
        message="the order confirmation to be dead-lettered",
    )
    dead = Delivery.objects.filter(status=Delivery.Status.DEAD)
    group = dashboard.locator(f'#dead-groups tr[data-subscriber="{failing}"]')
    expect(group.locator(".count")).to_have_text(str(dead.filter(subscriber=failing).count()))
    expect(group.locator(".error")).to_contain_text("fault injected")
    expect(dashboard.locator("#dead-total")).to_have_text(str(dead.count()))
    expect(dashboard.locator("#c-dead")).to_have_text(str(dead.count()))
    expect(dashboard.locator(f'#dead-recent [data-subscriber="{failing}"]')).to_contain_text(
        "InjectedFault"
    )

    dashboard.locator(f'#dead-recent [data-subscriber="{failing}"] .linkish').first.click()
    chip = dashboard.locator(
        f'.flow[data-cid="{placed["correlationId"]}"] .chip.delivery[data-subscriber="{failing}"]'
    )
    expect(chip).to_have_attribute("data-status", "dead")
    expect(chip.locator(".chip-error")).to_contain_text("fault injected")


def test_a_hostile_user_id_is_shown_as_text_and_never_runs(stack, new_page):
    shop = new_page()
    shop_dialogs = watch_dialogs(shop)
    shop.goto(f"{stack.url}/")
    order_id = place_in_shop(shop, product="PROD-003", quantity=1, user_id=XSS_USER_ID)
    order = shop.locator(f'[data-order="{order_id}"]')
    expect(order.locator(".user-id")).to_have_text(XSS_USER_ID)
    expect(order.locator("[data-role=status]")).to_have_text("confirmed", timeout=60_000)

    dashboard = new_page()
    dashboard_dialogs = watch_dialogs(dashboard)
    log_in(dashboard, stack.url)
    correlation_id = Order.objects.get(pk=order_id).correlation_id
    flow = dashboard.locator(f'.flow[data-cid="{correlation_id}"]')
    expect(flow.locator(".flow-head .user-id")).to_have_text(XSS_USER_ID)
    flow.locator(".flow-head").click()
    created = flow.locator('.ev-row[data-event-type="order.created"]')
    expect(created.locator(".preview")).to_contain_text(XSS_USER_ID)
    created.locator(".data-toggle").click()
    expect(created.locator(".ev-data")).to_contain_text(XSS_USER_ID)

    # Reload both pages: the server-rendered state must be as inert as the live one.
    shop.reload()
    expect(shop.locator(f'[data-order="{order_id}"] .user-id')).to_have_text(XSS_USER_ID)
    for page in (shop, dashboard):
        assert page.locator("main img").count() == 0
    assert shop_dialogs == [] and dashboard_dialogs == []
