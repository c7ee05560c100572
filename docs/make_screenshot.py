"""Make the README's screenshots from a running stack: docs/shop.png (the shop with its
orders' saga steps), docs/dashboard.png (the dashboard during a flow with a dead letter, its
causation tree and span waterfall) and docs/dead-letter.png (that dead letter in the admin).

Against a running stack (``./bin/run``), with the dev login it printed::

    .venv/bin/python docs/make_screenshot.py --url http://127.0.0.1:8000 --password <pw>

Use a fresh stack (``EVENTHUB_VAR_DIR=$(mktemp -d)``, ``EVENTHUB_RETRY_DELAY_SCALE=0.02``).
It switches on the "fail always" fault of notifications.order_confirmation from the
dashboard's fault switches, places orders in the shop, waits for the dead letter, opens the
failed flow and takes the screenshots; then it switches the fault off again. The window is
1400 x 900, the size the pages are tested at (tests/e2e/test_dashboard_at_a_glance.py).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from playwright.sync_api import expect, sync_playwright

from eventhub.devtools.browser import launch_chromium

FAILING = "notifications.order_confirmation"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--url", default="http://127.0.0.1:8000")
    parser.add_argument("--user", default="admin")
    parser.add_argument("--password", required=True)
    parser.add_argument("--out-dir", default=str(Path(__file__).parent))
    args = parser.parse_args()
    with sync_playwright() as p:
        browser = launch_chromium(p)
        out = Path(args.out_dir)
        context = browser.new_context(viewport={"width": 1400, "height": 900})
        context.set_default_timeout(60_000)
        dash = context.new_page()
        dash.goto(f"{args.url}/admin/login/?next=/dashboard/")
        dash.fill("#id_username", args.user)
        dash.fill("#id_password", args.password)
        dash.click("input[type=submit]")
        dash.wait_for_url("**/dashboard/")
        fault = dash.locator(f'#faults tr[data-subscriber="{FAILING}"]')
        fault.locator("select").select_option("always")  # choosing a mode switches it on
        expect(dash.locator("#fault-note")).to_contain_text("is on: fail always")
        expect(fault).to_have_class("fault on")

        shop = browser.new_context(viewport={"width": 1400, "height": 900}).new_page()
        shop.goto(f"{args.url}/")
        for product, quantity, user in (
            ("PROD-003", 1, "user-456"),
            ("PROD-002", 100, "user-789"),  # more than in stock: rejected
            ("PROD-001", 2, "user-123"),
        ):
            shop.select_option("#order-product", product)
            shop.fill("#order-quantity", str(quantity))
            shop.fill("#order-user", user)
            shop.click("#order-submit")
            expect(shop.locator("#order-message")).to_contain_text("placed")
        last = shop.locator("#orders .order").first
        expect(last.locator("[data-role=status]")).to_have_text("confirmed")
        expect(shop.locator("#order-message")).to_have_text("")  # the note has cleared
        shop.screenshot(path=str(out / "shop.png"), full_page=True)

        expect(dash.locator("#dead-total")).to_have_text("3")  # one per order.created
        dead = dash.locator(f'#dead-recent [data-subscriber="{FAILING}"]').first
        dead.locator(".linkish").click()
        dash.fill("#f-cid", "")  # show every flow, with the failed one open
        dash.locator("#f-cid").dispatch_event("input")
        chip = dash.locator(f'.flow.open .chip.delivery[data-subscriber="{FAILING}"]')
        expect(chip).to_have_attribute("data-status", "dead")
        dash.locator(".flow.open .waterfall").wait_for()
        dash.wait_for_timeout(1500)  # let the waterfall's spans arrive from the workers
        dash.screenshot(path=str(out / "dashboard.png"), full_page=True)

        delivery = chip.get_attribute("data-delivery")
        dash.goto(f"{args.url}/admin/eventhub/deadletter/{delivery}/change/")
        dash.screenshot(path=str(out / "dead-letter.png"), full_page=True)

        dash.goto(f"{args.url}/dashboard/")
        fault = dash.locator(f'#faults tr[data-subscriber="{FAILING}"]')
        fault.locator("input[type=checkbox]").uncheck()
        expect(dash.locator("#fault-note")).to_contain_text("is off")
        browser.close()
    for name in ("shop.png", "dashboard.png", "dead-letter.png"):
        print(Path(args.out_dir) / name)


if __name__ == "__main__":
    main()
