"""Replaying a flow from the dashboard, as the operator does it: open the flow, Replay…, give
a reason, and watch the replay batch move in the Retry batches panel and the replayed
deliveries appear in the flow (generation 1), without a reload."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest
from playwright.sync_api import expect

from eventhub.models import Delivery, RetryBatch
from tests.conftest import WebServer
from tests.integration.flows import place_order, wait_for_flow
from tests.integration.saga import HAPPY

from .browser import log_in

pytestmark = [pytest.mark.e2e, pytest.mark.integration, pytest.mark.django_db(transaction=True)]

PROJECTION = "orders.record_saga_step"


@pytest.fixture
def slow_replays(
    catalog: None, start_worker: Callable[..., Any], relay: Any, start_web: Callable[..., WebServer]
) -> WebServer:
    """Replays at 1/s from the dashboard: the saga's three step events take about 2 s, time
    enough to watch the batch move."""
    start_worker()
    return start_web(EVENTHUB_RETRY_RATE_PER_SECOND="1")


def test_the_replay_button_starts_a_replay_that_moves_live(slow_replays, new_page):
    order = place_order(HAPPY)
    wait_for_flow(order)
    cid = order["correlationId"]
    page = new_page()
    log_in(page, slow_replays.url, next_path=f"/dashboard/?flow={cid}")
    expect(page.locator("#conn")).to_have_attribute("data-state", "live")
    flow = page.locator(f'.flow[data-cid="{cid}"]')
    page.evaluate("window.loadedOnce = true")

    # A reason is required before anything is sent.
    flow.locator("button.flow-replay").click()
    expect(page.locator("#replay-dialog")).to_be_visible()
    page.click("#replay-confirm")
    expect(page.locator("#replay-reason:invalid")).to_have_count(1)  # the form's own check
    expect(page.locator("#replay-dialog")).to_be_visible()
    assert not RetryBatch.objects.exists()

    # A dry run lists what would be sent, and sends nothing.
    page.click("#replay-dry-run")
    preview = page.locator("#replay-preview li")
    expect(preview).to_have_count(3)
    expect(preview.first).to_contain_text(f"inventory.updated → {PROJECTION} (generation 1)")
    assert not RetryBatch.objects.exists()

    page.fill("#replay-reason", "rebuild the saga steps")
    page.click("#replay-confirm")
    expect(page.locator("#replay-note")).to_contain_text("Replay of flow")
    batch = RetryBatch.objects.get()
    assert (batch.kind, batch.total, batch.rate_per_second) == ("replay", 3, 1)

    row = page.locator(f'#retry-batches [data-batch="{batch.pk}"]')
    expect(row).to_have_attribute("data-kind", "replay")
    # Seen while it runs, not only at the end.
    expect(row).to_have_attribute("data-done", re.compile(r"^[12]$"), timeout=10_000)
    expect(row).to_have_attribute("data-status", "running")
    expect(row).to_have_attribute("data-status", "finished", timeout=20_000)
    expect(row).to_contain_text("3/3 handled · 3 sent")

    replayed = flow.locator('.chip.delivery[data-generation="1"]')
    expect(replayed).to_have_count(3, timeout=10_000)
    for chip in replayed.all():
        expect(chip).to_have_attribute("data-subscriber", PROJECTION)
        expect(chip).to_have_attribute("data-status", "succeeded", timeout=10_000)
        expect(chip).to_contain_text("replay 1")
    assert page.evaluate("window.loadedOnce === true")
    assert Delivery.objects.filter(generation=1, status="succeeded").count() == 3
