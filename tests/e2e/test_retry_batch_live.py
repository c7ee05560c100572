"""A batch retry as the operator watches it in the browser: its admin page and the dashboard
move as the relay requeues (no reload), and the operator cancels it from its page."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest
from playwright.sync_api import expect

from eventhub.models import Delivery, RetryBatch
from tests.conftest import WebServer, wait_until
from tests.integration.test_dead_letter_admin import make_dead_letters

from .browser import log_in

pytestmark = [pytest.mark.e2e, pytest.mark.integration, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def batch_stack(
    catalog: None, start_worker: Callable[..., Any], relay: Any, start_web: Callable[..., WebServer]
) -> WebServer:
    """Batches at 2/s: 20 dead letters take about 10 s, time enough to watch and cancel."""
    start_worker()
    return start_web(EVENTHUB_RETRY_RATE_PER_SECOND="2")


def done_of(batch: RetryBatch) -> int:
    return RetryBatch.objects.get(pk=batch.pk).done


def test_staff_watch_a_batch_retry_move_live_and_cancel_it(batch_stack, new_page):
    dead = make_dead_letters(20)
    dashboard = new_page()
    log_in(dashboard, batch_stack.url)
    expect(dashboard.locator("#conn")).to_have_attribute("data-state", "live")

    admin = new_page()
    log_in(admin, batch_stack.url, next_path="/admin/eventhub/deadletter/")
    admin.check("#action-toggle")
    admin.select_option("select[name=action]", "retry_selected")
    admin.click("button[name=index]")
    expect(admin.locator(".messagelist")).to_contain_text("Retrying 20 dead letter(s) at up to 2/s")
    admin.click("text=progress of batch")
    batch = RetryBatch.objects.get()
    expect(admin.locator("#batch-status")).to_have_text("running")
    admin.evaluate("window.loadedOnce = true")

    # The page follows the batch without a reload, and so does the dashboard's panel.
    wait_until(lambda: done_of(batch) >= 6, timeout=30, message="six requeued")
    moved = re.compile(r"^([6-9]|1[0-9])/20 handled, ([6-9]|1[0-9]) requeued$")
    expect(admin.locator("#batch-text")).to_have_text(moved, timeout=5_000)
    assert admin.evaluate("window.loadedOnce === true")
    row = dashboard.locator(f'#retry-batches [data-batch="{batch.pk}"]')
    expect(row).to_have_attribute("data-done", re.compile(r"^([6-9]|1[0-9])$"), timeout=5_000)
    expect(row).to_contain_text("running · 2/s")

    # Cancel from the batch's page: it stops, the page and the dashboard say so.
    admin.click("text=Cancel this batch")
    expect(admin.locator(".messagelist")).to_contain_text(f"Cancelled retry batch {batch.pk}")
    expect(admin.locator("#batch-status")).to_have_text("cancelled")
    expect(admin.locator("text=Cancel this batch")).to_have_count(0)
    expect(row).to_have_attribute("data-status", "cancelled", timeout=10_000)
    batch.refresh_from_db()
    assert 6 <= batch.done < 20
    still_dead = Delivery.objects.filter(pk__in=dead, status=Delivery.Status.DEAD).count()
    assert still_dead == 20 - batch.requeued
