"""The span waterfall of a flow with a retry, in the browser at 1400x900 (issue 15.1): spans
nested under the event and its deliveries, the wait for the retry compressed and labelled,
the relay's retry trace (linked, not a child) included and marked, spans arriving while the
flow is open, and a delivery chip and its span rows highlighting each other.

Every process exports its spans as it does in production (batches, OpenTelemetry's default
5 s delay), so the relay runs as its own process here: the thread the other tests use has no
tracer provider.
"""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from eventhub.models import Delivery, FaultRule
from tests.conftest import ROOT, WebServer, http_json, wait_until
from tests.integration.flows import SEED_ORDER, wait_for_flow

from .browser import log_in

pytestmark = [pytest.mark.e2e, pytest.mark.integration, pytest.mark.django_db(transaction=True)]

FLAKY = "notifications.order_confirmation"
ROWS = ".waterfall .wf-row:not(.wf-axis)"


@pytest.fixture
def relay_process(worker_env: dict[str, str], tmp_path: Path) -> Iterator[subprocess.Popen[bytes]]:
    log = tmp_path / "relay.log"
    process = subprocess.Popen(
        [sys.executable, "manage.py", "eventhub_relay", "--interval", "0.1"],
        cwd=ROOT, env=worker_env, stdout=log.open("ab"), stderr=subprocess.STDOUT,
        start_new_session=True,
    )  # fmt: skip
    yield process
    process.terminate()
    try:
        process.wait(15)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(10)


@pytest.fixture
def traced_stack(
    catalog: None,
    start_worker: Callable[..., Any],
    relay_process: Any,
    start_web: Callable[..., WebServer],
) -> WebServer:
    # The first retry waits 1 s x 4 (+-25 %): 3-5 s. The rest of the flow runs meanwhile (up
    # to a second here), so the idle stretch before the retry stays over the 1 s compressed.
    start_worker(EVENTHUB_RETRY_DELAY_SCALE="4")
    return start_web()


def order(stack: WebServer, **headers: str) -> dict[str, Any]:
    return http_json("POST", f"{stack.url}/orders", SEED_ORDER, headers=headers)["data"]


def test_the_waterfall_of_a_retried_flow_nests_compresses_marks_and_stays_live(
    traced_stack, new_page
):
    FaultRule.objects.create(
        subscriber=FLAKY, enabled=True, mode=FaultRule.Mode.NEXT_N, remaining=1
    )
    placed = order(traced_stack)
    cid = placed["correlationId"]
    wait_for_flow(placed)
    flaky = Delivery.objects.get(event__correlation_id=cid, subscriber=FLAKY)
    assert flaky.attempts == 2 and flaky.status == Delivery.Status.SUCCEEDED

    page = new_page()
    errors: list[str] = []  # a CSP violation or a script error shows here
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    log_in(page, traced_stack.url, f"/dashboard/?flow={cid}")
    flow = page.locator(f'.flow[data-cid="{cid}"]')
    waterfall = flow.locator(".waterfall")

    # The retry: its wait compressed and labelled, its relay trace linked and marked.
    gap = waterfall.locator(".wf-gap-label.reason-retry")
    expect(gap).to_have_count(1, timeout=40_000)
    expect(gap).to_have_text(re.compile(r"^waited [1-5]\.\d s for retry$"))
    # (The relay may have dispatched the first attempt too, racing the web: a linked trace.)
    retry_trace = waterfall.locator(
        f'.wf-row.link-start[data-delivery="{flaky.pk}"]', has_text="dispatches retry (attempt 2)"
    )
    expect(retry_trace.locator(".wf-link-badge")).to_have_text("linked retry trace")
    publish = waterfall.locator(".wf-row.role-event", has_text="publish order.created")
    expect(publish).to_have_count(1, timeout=20_000)  # the web's spans: batched for up to 5 s
    # Nesting: the delivery's row sits under its event's publish row, each attempt deeper.
    delivery_row = waterfall.locator(f'.wf-row.role-delivery[data-delivery="{flaky.pk}"]')
    expect(delivery_row).to_contain_text(f"delivery to {FLAKY}, 2 attempts")
    attempts = waterfall.locator(f'.wf-row.role-attempt[data-delivery="{flaky.pk}"]')
    expect(attempts).to_have_count(2)
    expect(attempts.nth(0)).to_contain_text("attempt 1")
    expect(attempts.nth(0)).to_have_class(re.compile(r"\berror\b"))
    depth = page.evaluate(
        """([cid, id]) => {
            const rows = [...document.querySelectorAll(`.flow[data-cid="${cid}"] .wf-row`)];
            const pad = (r) => parseFloat(
                getComputedStyle(r.querySelector('.wf-label')).paddingLeft);
            const publish = rows.find((r) => r.textContent.includes('publish order.created'));
            const delivery = rows.find((r) => r.matches(`.role-delivery[data-delivery="${id}"]`));
            const attempt = rows.find((r) => r.matches(`.role-attempt[data-delivery="${id}"]`));
            return [pad(publish), pad(delivery), pad(attempt),
                    rows.indexOf(publish) < rows.indexOf(delivery),
                    rows.indexOf(delivery) < rows.indexOf(attempt)];
        }""",
        [cid, flaky.pk],
    )
    assert depth[0] < depth[1] < depth[2] and depth[3] and depth[4], depth
    # Queue wait drawn apart from execution; a time axis with ticks.
    assert waterfall.locator(".wf-wait").count() >= 1
    assert waterfall.locator(".wf-tick").count() >= 3
    # The first attempt's bar is no 1-pixel tick although the flow spans seconds.
    bar_width = attempts.nth(0).locator(".wf-bar").evaluate("b => b.getBoundingClientRect().width")
    assert bar_width >= 4, bar_width
    fits = waterfall.evaluate("w => [w.scrollWidth, w.clientWidth]")
    assert fits[0] <= fits[1], fits  # no horizontal overflow at 1400 px
    waterfall.screenshot(path=str(ROOT / "var" / "waterfall-retry.png"))

    # Live: a new order in the same flow adds deliveries, and their spans arrive while open.
    before = page.locator(f'.flow[data-cid="{cid}"] {ROWS}').count()
    flow_deliveries = Delivery.objects.filter(event__correlation_id=cid)
    old_ids = set(flow_deliveries.values_list("pk", flat=True))
    second = order(traced_stack, **{"X-Correlation-ID": cid})
    assert second["correlationId"] == cid
    wait_for_flow(second)
    new_ids = set(flow_deliveries.values_list("pk", flat=True)) - old_ids
    assert new_ids
    wait_until(
        lambda: (
            set(
                page.eval_on_selector_all(
                    f'.flow[data-cid="{cid}"] .wf-row[data-delivery]',
                    "rows => rows.map((r) => Number(r.dataset.delivery))",
                )
            )
            >= new_ids
        ),
        timeout=30,
        message="the new deliveries' spans in the open waterfall",
    )
    after = page.locator(f'.flow[data-cid="{cid}"] {ROWS}').count()
    assert after > before, (before, after)

    # Chip -> its spans.
    chip = flow.locator(f'.chip.delivery[data-delivery="{flaky.pk}"]')
    chip.locator(".chip-head").click()
    expect(chip).to_have_class(re.compile(r"\bhl\b"))
    mine = waterfall.locator(f'.wf-row[data-delivery="{flaky.pk}"]')
    expect(waterfall.locator(".wf-row.hl")).to_have_count(mine.count())
    assert mine.count() >= 5  # the delivery, enqueue, pick-up, attempt; the retry's too
    # Span row -> its chip (and the previous highlight goes).
    other = min(new_ids)
    waterfall.locator(f'.wf-row.role-delivery[data-delivery="{other}"] .wf-label').click()
    other_chip = flow.locator(f'.chip.delivery[data-delivery="{other}"]')
    expect(other_chip).to_have_class(re.compile(r"\bhl\b"))
    expect(chip).not_to_have_class(re.compile(r"\bhl\b"))
    expect(waterfall.locator(f'.wf-row.hl:not([data-delivery="{other}"])')).to_have_count(0)
    assert not errors, errors
