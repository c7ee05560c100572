"""The dashboard resyncs from the database: across a cut connection, across web processes,
and through a burst, with its DOM bounded."""

from __future__ import annotations

import time
import uuid
from typing import Any

import pytest
from playwright.sync_api import expect

from eventhub.devtools.loadgen import probes_publish
from eventhub.models import Event
from tests.conftest import http_json, wait_until
from tests.integration.flows import SEED_ORDER

from .browser import TcpProxy, log_in

pytestmark = [pytest.mark.e2e, pytest.mark.integration, pytest.mark.django_db(transaction=True)]

ONE_FLOW = 10**9
"""A flow size no run reaches: every probe of the run joins the same flow."""


def test_after_a_cut_of_ten_seconds_the_page_shows_all_200_events_in_order_once(
    catalog, start_web, new_page
):
    web = start_web()
    proxy = TcpProxy(web.port)
    run_id = f"cut-{uuid.uuid4().hex[:6]}"
    flow_id = f"{run_id}-0"
    try:
        probes_publish(run_id=run_id, start=0, count=1, flow_size=ONE_FLOW)
        page = new_page()
        log_in(page, proxy.url, next_path=f"/dashboard/?flow={flow_id}")
        rows = page.locator(f'.flow[data-cid="{flow_id}"] .ev-row')
        expect(rows).to_have_count(1)

        proxy.cut()
        expect(page.locator("#conn")).not_to_have_attribute("data-state", "live")
        cut_at = time.monotonic()
        for batch in range(20):  # 200 events spread over the ten seconds of the cut
            time.sleep(max(0.0, cut_at + batch * 0.5 - time.monotonic()))  # pacing
            probes_publish(run_id=run_id, start=1 + batch * 10, count=10, flow_size=ONE_FLOW)
        time.sleep(max(0.0, cut_at + 10 - time.monotonic()))  # the cut lasts ten seconds
        assert rows.count() == 1  # nothing got through while cut
        proxy.restore()

        expect(page.locator("#conn")).to_have_attribute("data-state", "live", timeout=20_000)
        expect(rows).to_have_count(201, timeout=20_000)
        shown = rows.evaluate_all(
            "rows => rows.map(r => [Number(r.dataset.position), r.dataset.eventId])"
        )
        stored = Event.objects.filter(correlation_id=flow_id).order_by("id")
        stored = stored.values_list("id", "event_id")
        assert [tuple(r) for r in shown] == [(pk, str(eid)) for pk, eid in stored]
        assert len({eid for _, eid in shown}) == 201
    finally:
        proxy.close()


def test_a_dashboard_on_a_second_web_process_sees_an_order_placed_through_the_first(
    catalog, start_worker, relay, start_web, new_page
):
    start_worker()
    first = start_web()
    # The second process never resyncs on its own: only notices over the shared Redis
    # channel layer can wake its websocket.
    second = start_web(EVENTHUB_LIVE_RESYNC_SECONDS="600")
    page = new_page()
    log_in(page, second.url)
    expect(page.locator("#conn")).to_have_attribute("data-state", "live")

    placed = http_json("POST", f"{first.url}/orders", SEED_ORDER)["data"]
    flow = page.locator(f'.flow[data-cid="{placed["correlationId"]}"]')
    expect(flow).to_be_visible(timeout=30_000)
    flow.locator(".flow-head").click()
    expect(flow.locator('.ev-row[data-event-type="order.status.updated"]')).to_have_count(
        1, timeout=60_000
    )


def test_a_burst_keeps_the_dashboard_updating_with_a_bounded_dom(catalog, start_web, new_page):
    web = start_web()
    page = new_page()
    log_in(page, web.url)
    expect(page.locator("#conn")).to_have_attribute("data-state", "live")
    run_id = f"burst-{uuid.uuid4().hex[:6]}"

    def dom_nodes() -> int:
        return page.evaluate("document.getElementsByTagName('*').length")

    cursors: list[int] = []
    nodes: list[int] = []
    rate, seconds, batch = 1000, 3, 50
    started = time.monotonic()
    for start in range(0, rate * seconds, batch):
        time.sleep(max(0.0, started + start / rate - time.monotonic()))  # pacing the burst
        positions = probes_publish(run_id=run_id, start=start, count=batch, flow_size=5)
        if start % 500 == 0:
            cursors.append(int(page.locator("#c-cursor").inner_text()))
            nodes.append(dom_nodes())

    expect(page.locator("#c-cursor")).to_have_text(str(positions[-1]), timeout=30_000)
    nodes.append(dom_nodes())
    assert len(set(cursors)) >= 3, cursors  # the page kept up during the burst
    assert page.locator(".flow").count() <= 40
    assert max(nodes) < 4000, nodes
    wait_until(lambda: page.evaluate("window.__eventhubMetrics.renders") > 10, message="renders")
    latencies: list[Any] = page.evaluate("window.__eventhubMetrics.latencies")
    assert len(latencies) >= rate * seconds * 0.9
