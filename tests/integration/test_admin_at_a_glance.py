"""The admin reads at a glance (issue 15.4, 15.8): times to the second, titles that say what
failed on what, long errors folded, a way to the dashboard. (No "Add another" row: a browser
test, tests/e2e/test_dashboard_at_a_glance.py, since the admin's script draws that link.)"""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.utils import timezone

from eventhub.models import Attempt, Delivery
from orders.models import Order

from .test_dead_letter_admin import FAILED, make_dead_letters

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

SECONDS = re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d")


@pytest.fixture
def admin_client() -> Client:
    user = User.objects.create_superuser("root", password="pw")
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def dead() -> Delivery:
    (pk,) = make_dead_letters(1)
    delivery = Delivery.objects.select_related("event").get(pk=pk)
    start = timezone.now() - timedelta(seconds=30)
    for number in range(1, 6):
        Attempt.objects.create(
            delivery=delivery,
            number=number,
            worker="celery@host",
            started_at=start + timedelta(seconds=2**number, milliseconds=number),
            finished_at=start + timedelta(seconds=2**number, milliseconds=40 + number),
            outcome=Attempt.Outcome.FAILED,
            error="InjectedFault: fault injected " + "x" * 300,
            traceback="Traceback (most recent call last):\n" + "  line\n" * 40,
        )
    return delivery


def test_the_dead_letter_title_says_what_failed_on_what(admin_client, dead):
    order = Order.objects.get(order_id=dead.event.aggregate_id)
    page = admin_client.get(f"/admin/eventhub/deadletter/{dead.pk}/change/").content.decode()
    title = f"{FAILED} failed on order.created {order.order_id}"
    assert str(dead) == title
    assert f"<h2>{title}</h2>" in page
    assert f" &lt;- {dead.event_id} " not in page


def test_attempts_read_to_the_second_with_the_wait_between_them(admin_client, dead):
    page = admin_client.get(f"/admin/eventhub/deadletter/{dead.pk}/change/").content.decode()
    attempts = list(Attempt.objects.filter(delivery=dead).order_by("number"))
    for attempt in attempts:
        shown = attempt.started_at.strftime("%Y-%m-%d %H:%M:%S.%f")[:-3] + " UTC"
        assert shown in page
    # 2, 4, 8, 16 s of backoff, visible.
    for waited in ("+2.0 s", "+4.0 s", "+8.0 s", "+16.0 s"):
        assert waited in page
    # The tracebacks folded, the errors cut to a line with the whole text on hover.
    assert page.count("<details class='eventhub-fold'><summary>traceback (41 lines)") == 5
    assert 'title="InjectedFault: fault injected xxx' in page or (
        "title='InjectedFault: fault injected xxx" in page
    )
    assert "x" * 300 + "</td>" not in page
    # Dates of the delivery itself to the second too.
    dead_at = page.split("dead at")[1][:400] if "dead at" in page else page
    assert SECONDS.search(dead_at)


def test_the_list_shows_dead_at_to_the_second_and_the_index_links_the_dashboard(admin_client, dead):
    listing = admin_client.get("/admin/eventhub/deadletter/").content.decode()
    local = timezone.localtime(dead.dead_at).strftime("%Y-%m-%d %H:%M:%S")
    assert local in listing
    assert "eventhub/css/admin.css" in listing
    index = admin_client.get("/admin/").content.decode()
    assert 'id="admin-dashboard-link"' in index and 'href="/dashboard/"' in index
