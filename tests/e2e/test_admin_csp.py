"""The admin under its Content-Security-Policy, in Chromium: no violation and no script error on
the index, a change list, a change page with inlines and the dead-letter pages, and the admin's
own scripts still work (the action checkboxes count the selection)."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from playwright.sync_api import expect

from eventhub.models import Delivery
from eventhub.pages import CSP
from tests.conftest import WebServer
from tests.integration.test_dead_letter_admin import make_dead_letters

from .browser import log_in

pytestmark = [pytest.mark.e2e, pytest.mark.integration, pytest.mark.django_db(transaction=True)]

RECORD_VIOLATIONS = """
window.__violations = [];
document.addEventListener("securitypolicyviolation", (e) => {
  const where = `${e.sourceFile}:${e.lineNumber}`;
  window.__violations.push(`${e.violatedDirective} ${e.blockedURI} ${where}`);
});
"""


@pytest.fixture
def web(catalog: None, start_web: Callable[..., WebServer]) -> WebServer:
    return start_web()


def test_admin_pages_work_under_the_csp_without_a_violation(web: WebServer, new_page) -> None:
    [dead] = make_dead_letters(1)
    order_id = Delivery.objects.get(pk=dead).event.aggregate_id

    page = new_page()
    page.add_init_script(RECORD_VIOLATIONS)
    problems: list[str] = []
    page.on(
        "console",
        lambda m: problems.append(f"{m.text} {m.location['url']}") if m.type == "error" else None,
    )
    page.on("pageerror", lambda e: problems.append(str(e)))
    log_in(page, web.url, next_path="/admin/")

    pages = [
        "/admin/",
        "/admin/orders/order/",
        f"/admin/orders/order/{order_id}/change/",
        "/admin/eventhub/deadletter/",
        f"/admin/eventhub/deadletter/{dead}/change/",
        "/admin/eventhub/deadletter/groups/",
        f"/admin/eventhub/deadletter/{dead}/edit/",
        "/admin/eventhub/faultrule/",
    ]
    for path in pages:
        response = page.goto(f"{web.url}{path}")
        assert response is not None and response.status == 200, path
        assert response.headers["content-security-policy"] == CSP, path
        page.wait_for_load_state("load")
        assert page.evaluate("window.__violations") == [], path
        if path == f"/admin/orders/order/{order_id}/change/":
            expect(page.locator("#saga_steps-group")).to_be_visible()
            expect(page.locator("#lines-group")).to_be_visible()
        if path == "/admin/eventhub/deadletter/":
            # actions.js runs: ticking a row updates the selection counter.
            page.locator("input.action-select").first.check()
            expect(page.locator(".action-counter")).to_contain_text("1 of 1 selected")
            # admin.css loads: the "retry all matching" form sits inline in the tools.
            form = page.locator("form.eventhub-inline-form")
            assert form.evaluate("f => getComputedStyle(f).display") == "inline"
    assert problems == []
