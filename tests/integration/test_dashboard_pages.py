"""The pages themselves: who may open them, what the shop remembers, what the stream reads."""

from __future__ import annotations

import json

import pytest
from django.contrib.auth import get_user_model
from django.test import Client

from eventhub.dashboard.stream import TimelineStream
from eventhub.devtools.loadgen import probes_publish
from eventhub.models import Event
from orders.shop import SESSION_KEY

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


def test_the_dashboard_sends_anonymous_and_non_staff_users_to_the_admin_login():
    anonymous = Client().get("/dashboard/")
    assert anonymous.status_code == 302
    assert anonymous["Location"].startswith("/admin/login/?next=/dashboard/")
    client = Client()
    client.force_login(get_user_model().objects.create_user("shopper", password="pw-123456"))
    assert client.get("/dashboard/").status_code == 302


def test_staff_get_the_dashboard_with_a_strict_content_security_policy():
    client = Client()
    client.force_login(get_user_model().objects.create_user("op", password="x", is_staff=True))
    page = client.get("/dashboard/")
    assert page.status_code == 200
    assert "script-src 'self'" in page["Content-Security-Policy"]


def test_the_shop_form_needs_the_csrf_token_and_remembers_the_order_in_the_session(redis_server):
    from inventory.services import catalog_seed

    catalog_seed()
    client = Client(enforce_csrf_checks=True)
    assert client.get("/").status_code == 200
    body = json.dumps({"userId": "u1", "items": [{"productId": "PROD-001", "quantity": 1}]})
    refused = client.post("/shop/orders", body, content_type="application/json")
    assert refused.status_code == 403
    placed = client.post(
        "/shop/orders",
        body,
        content_type="application/json",
        headers={"X-CSRFToken": client.cookies["csrftoken"].value},
    )
    assert placed.status_code == 201
    assert client.session[SESSION_KEY] == [placed.json()["data"]["orderId"]]
    bad = client.post(
        "/shop/orders",
        json.dumps({"userId": "u1", "items": []}),
        content_type="application/json",
        headers={"X-CSRFToken": client.cookies["csrftoken"].value},
    )
    assert bad.status_code == 400 and bad.json()["error"].startswith("items")


def test_a_position_that_commits_late_is_still_sent(redis_server):
    positions = probes_publish(run_id="late", start=0, count=3, flow_size=10)
    stream = TimelineStream()
    stream.resume(positions[-1])
    late = Event.objects.get(pk=positions[1])
    Event.objects.filter(pk=late.pk).delete()  # as if its transaction had not committed yet
    stream = TimelineStream()
    first = stream.resume(None)
    assert [e["position"] for e in first["events"]] == [positions[0], positions[2]]
    late.save(force_insert=True)  # now it commits, below the cursor
    batch = stream.poll()
    assert batch is not None
    assert [e["position"] for e in batch["events"]] == [positions[1]]
    again = stream.poll()
    assert again is None or again["events"] == []  # sent once


def test_a_page_that_resumes_gets_everything_after_its_cursor(redis_server):
    positions = probes_publish(run_id="resume", start=0, count=5, flow_size=10)
    batch = TimelineStream().resume(positions[1])
    sent = [e["position"] for e in batch["events"]]
    assert sent[-3:] == positions[2:]
    assert batch["replay"] is True and batch["reset"] is False
