"""Replay and redrive over HTTP: the dashboard's Replay endpoint and the admin's replay action
and redrive form. Permissions (403), bad input (400 naming the field, nothing written),
CSRF, the audit entry (who, when, why, what)."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.contrib.admin.models import LogEntry
from django.contrib.auth.models import Permission, User
from django.test import Client
from django.utils import timezone

from eventhub.models import Delivery, Event, RetryBatch
from orders.services import ItemInput, order_place
from tests.integration.saga import reserve_stock_of

pytestmark = pytest.mark.django_db

PROJECTION = "orders.record_saga_step"


@pytest.fixture(autouse=True)
def catalog() -> None:
    from inventory.services import catalog_seed

    catalog_seed()


def flow() -> str:
    """A flow with an order.created and an inventory.updated (the projection's event)."""
    order = order_place(user_id="user-1", items=[ItemInput("PROD-001", 1, None)])
    reserve_stock_of(order)
    Event.objects.filter(aggregate_id=order.order_id).update(correlation_id="flow-1")
    return "flow-1"


def staff(username: str, *perms: str) -> User:
    user = User.objects.create_user(username, password="pw", is_staff=True)
    user.user_permissions.set(Permission.objects.filter(codename__in=perms))
    return user


def client_for(user: User, **kwargs) -> Client:
    client = Client(**kwargs)
    client.force_login(user)
    return client


def post_json(client: Client, url: str, body: object, **kwargs) -> tuple[int, dict]:
    response = client.post(url, data=json.dumps(body), content_type="application/json", **kwargs)
    return response.status_code, response.json()


URL = "/dashboard/api/flows/{}/replay"


def test_the_dashboard_replay_starts_an_audited_batch():
    cid = flow()
    operator = staff("op", "replay_events")
    status, reply = post_json(client_for(operator), URL.format(cid), {"reason": "rebuild"})
    assert status == 202, reply
    batch = RetryBatch.objects.get(pk=reply["data"]["batch"])
    assert (batch.kind, batch.total) == ("replay", 1)
    assert batch.replays == [[Event.objects.get(event_type="inventory.updated").pk, PROJECTION]]
    entry = LogEntry.objects.get()
    assert entry.user == operator and entry.object_id == str(batch.pk)
    assert "rebuild" in entry.change_message and "replay 1 deliveries" in entry.change_message
    assert entry.action_time is not None
    assert not Delivery.objects.filter(generation__gt=0).exists()  # the relay sends it


def test_the_dashboard_replay_needs_its_permission_and_staff():
    cid = flow()
    viewer = staff("viewer", "view_event", "retry_deadletter")
    status, reply = post_json(client_for(viewer), URL.format(cid), {"reason": "x"})
    assert status == 403 and "eventhub.replay_events" in reply["error"]
    status, _ = post_json(Client(), URL.format(cid), {"reason": "x"})
    assert status == 401
    outsider = User.objects.create_user("outsider", password="pw")
    outsider.user_permissions.set(Permission.objects.filter(codename="replay_events"))
    status, _ = post_json(client_for(outsider), URL.format(cid), {"reason": "x"})
    assert status == 403
    assert client_for(staff("op", "replay_events")).get(URL.format(cid)).status_code == 405
    assert not RetryBatch.objects.exists() and not LogEntry.objects.exists()


def test_the_dashboard_replay_needs_the_csrf_token():
    cid = flow()
    operator = client_for(staff("op", "replay_events"), enforce_csrf_checks=True)
    response = operator.post(
        URL.format(cid), data=json.dumps({"reason": "x"}), content_type="application/json"
    )
    assert response.status_code == 403 and not RetryBatch.objects.exists()
    operator.get("/dashboard/")  # sets the csrftoken cookie
    token = operator.cookies["csrftoken"].value
    status, reply = post_json(operator, URL.format(cid), {"reason": "x"}, HTTP_X_CSRFTOKEN=token)
    assert status == 202, reply
    assert RetryBatch.objects.count() == 1


@pytest.mark.parametrize(
    ("cid", "body", "field"),
    [
        ("flow-1", {}, "reason: "),
        ("flow-1", {"reason": "   "}, "reason: "),
        ("flow-1", {"reason": 5}, "reason: "),
        ("flow-1", {"reason": "x" * 2001}, "reason: "),
        ("flow-1", {"reason": "x\x00y"}, "reason: "),
        ("flow-1", {"reason": "x", "subscribers": "orders.record_saga_step"}, "subscribers: "),
        ("flow-1", {"reason": "x", "subscribers": ["payments.authorize_payment"]},
         "subscribers: payments.authorize_payment is not replayable"),
        ("flow-1", {"reason": "x", "subscribers": ["nope.nothing"]}, "subscribers: no subscriber"),
        ("flow-1", {"reason": "x", "rate": 0}, "rate: "),
        ("flow-1", {"reason": "x", "rate": "fast"}, "rate: "),
        ("flow-1", {"reason": "x", "rate": 10**9}, "rate: "),
        ("flow-1", {"reason": "x", "dryRun": "yes"}, "dryRun: "),
        ("flow-1", [], "body: "),
        ("no-such-flow", {"reason": "x"}, "correlationId: no events recorded"),
        ("bad%20id", {"reason": "x"}, "correlationId: "),
    ],
)  # fmt: skip
def test_bad_replay_requests_are_refused_naming_the_field_and_write_nothing(cid, body, field):
    flow()
    operator = client_for(staff("op", "replay_events"))
    status, reply = post_json(operator, URL.format(cid), body)
    assert status == 400, reply
    assert reply["error"].startswith(field), reply["error"]
    assert not RetryBatch.objects.exists() and not LogEntry.objects.exists()


def test_a_replay_that_is_not_json_is_refused():
    cid = flow()
    operator = client_for(staff("op", "replay_events"))
    response = operator.post(URL.format(cid), data="reason=x", content_type="text/plain")
    assert response.status_code == 415
    response = operator.post(URL.format(cid), data="{", content_type="application/json")
    assert response.status_code == 400 and response.json()["error"].startswith("body: ")
    assert not RetryBatch.objects.exists()


def test_a_dashboard_dry_run_lists_what_would_be_sent_and_writes_nothing():
    cid = flow()
    operator = client_for(staff("op", "replay_events"))
    status, reply = post_json(operator, URL.format(cid), {"dryRun": True})
    assert status == 200
    [item] = reply["data"]["deliveries"]
    assert (item["eventType"], item["subscriber"], item["generation"]) == (
        "inventory.updated",
        PROJECTION,
        1,
    )
    assert not RetryBatch.objects.exists() and not LogEntry.objects.exists()


def test_the_dashboard_offers_replay_only_with_the_permission():
    flow()
    page = client_for(staff("op", "replay_events")).get("/dashboard/").content.decode()
    assert '"replay": true' in page and 'id="replay-dialog"' in page
    page = client_for(staff("viewer")).get("/dashboard/").content.decode()
    assert '"replay": false' in page


# --- admin ------------------------------------------------------------------------------------

EVENTS = "/admin/eventhub/event/"
REDRIVE = "/admin/eventhub/retrybatch/redrive/"


def test_the_admin_replays_the_selected_events_flows_after_a_preview_with_a_reason():
    flow()
    operator = client_for(staff("op", "view_event", "replay_events", "view_retrybatch"))
    first = Event.objects.order_by("id").first()
    selected = {"action": "replay_flows", "_selected_action": [first.pk]}

    page = operator.post(EVENTS, selected)
    assert page.status_code == 200 and "Replay with this reason" in page.content.decode()
    preview = operator.post(EVENTS, {**selected, "preview": "1", "rate": 5, "reason": ""})
    html = preview.content.decode()
    assert "Would send 1 deliveries" in html and f"{PROJECTION} (generation 1)" in html
    assert not RetryBatch.objects.exists()

    refused = operator.post(EVENTS, {**selected, "apply": "1", "rate": 5, "reason": ""})
    assert refused.status_code == 400 and "reason: a reason is required" in refused.content.decode()
    assert not RetryBatch.objects.exists()

    done = operator.post(EVENTS, {**selected, "apply": "1", "rate": 5, "reason": "rebuild"})
    assert done.status_code == 302
    batch = RetryBatch.objects.get()
    assert (batch.kind, batch.total, batch.rate_per_second) == ("replay", 1, 5)
    assert LogEntry.objects.get().user.username == "op"


def test_the_admin_replay_action_needs_its_permission():
    flow()
    viewer = client_for(staff("viewer", "view_event"))
    html = viewer.get(EVENTS).content.decode()
    assert "replay_flows" not in html
    first = Event.objects.order_by("id").first()
    viewer.post(
        EVENTS,
        {"action": "replay_flows", "_selected_action": [first.pk], "apply": "1", "reason": "x"},
    )
    assert not RetryBatch.objects.exists()


def test_the_admin_redrive_form_previews_then_starts_a_batch():
    flow()
    operator = client_for(staff("op", "redrive_deliveries", "view_retrybatch"))
    assert "Redrive a window" in operator.get("/admin/eventhub/retrybatch/").content.decode()
    since = (timezone.now() - timedelta(hours=1)).isoformat()
    until = (timezone.now() + timedelta(hours=1)).isoformat()
    form = {"subscriber": PROJECTION, "since": since, "until": until, "status": "all",
            "rate": 20, "reason": "rebuild"}  # fmt: skip

    preview = operator.post(REDRIVE, {**form, "preview": "1"})
    assert preview.status_code == 200
    html = preview.content.decode()
    assert "1 event(s) recorded" in html
    assert "<li>send " in html and f"{PROJECTION} (generation 1)</li>" in html  # its dry run
    assert not RetryBatch.objects.exists()

    started = operator.post(REDRIVE, {**form, "apply": "1"})
    batch = RetryBatch.objects.get()
    assert started.status_code == 302 and started["Location"].endswith(f"/{batch.pk}/change/")
    assert (batch.kind, batch.total, batch.rate_per_second) == ("replay", 1, 20)
    assert "redrive orders.record_saga_step all: rebuild" in batch.reason


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"since": "yesterday"}, "since: "),
        ({"until": "2000-01-01T00:00:00Z"}, "until: must be after since"),
        ({"subscriber": "payments.authorize_payment"},
         "subscriber: payments.authorize_payment is not replayable"),
        ({"reason": ""}, "reason: a reason is required"),
    ],
)  # fmt: skip
def test_the_admin_redrive_form_refuses_bad_input_naming_the_field(change, message):
    flow()
    operator = client_for(staff("op", "redrive_deliveries"))
    form = {"subscriber": PROJECTION, "since": "2020-01-01T00:00:00Z",
            "until": "2100-01-01T00:00:00Z", "status": "all", "rate": 20,
            "reason": "x", "apply": "1", **change}  # fmt: skip
    response = operator.post(REDRIVE, form)
    assert response.status_code == 400
    assert message in response.content.decode()
    assert not RetryBatch.objects.exists()


def test_the_admin_redrive_form_needs_its_permission_and_the_csrf_token():
    flow()
    viewer = client_for(staff("viewer", "view_retrybatch", "retry_deadletter"))
    assert viewer.get(REDRIVE).status_code == 403
    assert "Redrive a window" not in viewer.get("/admin/eventhub/retrybatch/").content.decode()
    operator = client_for(staff("op", "redrive_deliveries"), enforce_csrf_checks=True)
    response = operator.post(
        REDRIVE,
        {"subscriber": PROJECTION, "since": "2020-01-01T00:00:00Z",
         "until": "2100-01-01T00:00:00Z", "status": "all", "rate": 20, "reason": "x",
         "apply": "1"},
    )  # fmt: skip
    assert response.status_code == 403
    assert not RetryBatch.objects.exists()
