"""An open dashboard whose access is revoked says so and stops, instead of reconnecting."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth import get_user_model
from playwright.sync_api import expect

from .browser import STAFF_USERNAME, log_in

pytestmark = [pytest.mark.e2e, pytest.mark.integration, pytest.mark.django_db(transaction=True)]


def test_logging_out_in_another_tab_signs_the_dashboard_out(catalog, start_web, new_page):
    web = start_web()
    dashboard = new_page()
    log_in(dashboard, web.url)
    expect(dashboard.locator("#conn")).to_have_attribute("data-state", "live")

    admin = dashboard.context.new_page()  # the same browser: the same session cookie
    admin.goto(f"{web.url}/admin/")
    admin.click("#logout-form button")
    expect(admin.locator("body")).to_contain_text("Logged out")

    expect(dashboard.locator("#conn")).to_have_attribute("data-state", "signed-out")
    expect(dashboard.locator("#conn")).to_have_text("signed-out")


def test_a_user_made_non_staff_sees_the_dashboard_forbidden(catalog, start_web, new_page):
    web = start_web()
    dashboard = new_page()
    log_in(dashboard, web.url)
    expect(dashboard.locator("#conn")).to_have_attribute("data-state", "live")

    user: Any = get_user_model().objects.get(username=STAFF_USERNAME)
    user.is_staff = False
    user.save()

    expect(dashboard.locator("#conn")).to_have_attribute("data-state", "forbidden")
