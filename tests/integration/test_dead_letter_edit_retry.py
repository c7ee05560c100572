"""Edit & retry of a dead letter over HTTP: permission, validation, the stale-form check, the
correction event and its single delivery through a real worker and relay, the audit entry."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from django.contrib.admin.models import LogEntry
from django.test import Client

from eventhub.bus import corrections
from eventhub.bus.dead_letters import dead_letter_retry
from eventhub.bus.envelope import to_envelope
from eventhub.bus.relay import relay_once
from eventhub.models import Delivery, Event
from notifications.models import Notification
from tests.conftest import wait_until

from .test_dead_letter_admin import FAILED, OPERATOR_PERMS, logged_in, make_dead_letters, staff

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


def edit_url(pk: int) -> str:
    return f"/admin/eventhub/deadletter/{pk}/edit/"


def open_editor(client: Client, pk: int) -> tuple[dict[str, Any], str]:
    """GET the editor: the payload it offers and the version it carries."""
    page = client.get(edit_url(pk))
    assert page.status_code == 200
    html = page.content.decode()
    version = re.search(r'name="version" value="([^"]+)"', html)
    assert version, html
    # The browser asks for the reason before the first Preview (the server refuses it too).
    assert re.search(r'<textarea name="reason"[^>]* required', html), html
    form = page.context["form"]
    return json.loads(form.initial["data"]), version.group(1)


def snapshot() -> tuple[int, list[tuple[int, str, int]], int]:
    """What an edit could write: events, deliveries (status, attempts), log entries."""
    deliveries = list(Delivery.objects.order_by("pk").values_list("pk", "status", "attempts"))
    return Event.objects.count(), deliveries, LogEntry.objects.count()


def confirm(client: Client, pk: int, data: Any, version: str, reason: str = "typo") -> Any:
    text = data if isinstance(data, str) else json.dumps(data)
    return client.post(
        edit_url(pk), {"data": text, "version": version, "reason": reason, "step": "confirm"}
    )


def editor(username: str = "op") -> Client:
    return logged_in(staff(username, *OPERATOR_PERMS, "edit_deadletter"))


def test_without_the_edit_permission_the_editor_and_a_forged_post_are_refused(catalog):
    [dead] = make_dead_letters(1)
    before = snapshot()
    retrier = logged_in(staff("retrier", *OPERATOR_PERMS))

    assert retrier.get(edit_url(dead)).status_code == 403
    assert (
        "Edit &amp; retry"
        not in retrier.get(f"/admin/eventhub/deadletter/{dead}/change/").content.decode()
    )
    data, version = open_editor(editor(), dead)
    data["shippingAddress"]["name"] = "Forged"
    assert confirm(retrier, dead, data, version).status_code == 403
    assert snapshot() == before


def test_bad_json_and_schema_violations_are_refused_naming_the_field(catalog):
    [dead] = make_dead_letters(1)
    client = editor()
    data, version = open_editor(client, dead)
    before = snapshot()

    page = confirm(client, dead, '{"orderId": ', version)
    assert page.status_code == 400
    assert "data: not valid JSON" in page.content.decode()

    wrong = {**data, "totalAmount": "a lot"}
    page = confirm(client, dead, wrong, version)
    assert page.status_code == 400
    assert "data.totalAmount: expected number, got string" in page.content.decode()

    missing = {k: v for k, v in data.items() if k != "shippingAddress"}
    page = client.post(
        edit_url(dead),
        {"data": json.dumps(missing), "version": version, "reason": "x", "step": "preview"},
    )
    assert page.status_code == 400
    assert "data.shippingAddress: is required" in page.content.decode()

    other_order = {**data, "orderId": "ORD-SOMEONE-ELSE"}
    page = confirm(client, dead, other_order, version)
    assert page.status_code == 400
    assert "data.orderId: a correction must keep the order" in page.content.decode()

    fixed = {**data, "shippingAddress": {**data["shippingAddress"], "name": "Ada"}}
    page = confirm(client, dead, fixed, version, reason="  ")
    assert page.status_code == 400
    assert "reason: a reason is required" in page.content.decode()
    assert snapshot() == before


def test_a_dead_letter_retried_since_the_editor_opened_refuses_the_edit(catalog, redis_server):
    """(The retry dispatches: to the suite's Redis, not a default broker that is not there.)"""
    [dead] = make_dead_letters(1)
    client = editor()
    data, version = open_editor(client, dead)
    data["shippingAddress"]["name"] = "Ada Lovelace"
    assert dead_letter_retry(delivery_ids=[dead]) == [dead]  # someone else, meanwhile
    before = snapshot()

    for step in ("preview", "confirm"):
        page = client.post(
            edit_url(dead),
            {"data": json.dumps(data), "version": version, "reason": "name", "step": step},
        )
        assert page.status_code == 409
        assert f"delivery {dead} changed since the editor opened it" in page.content.decode()
    assert snapshot() == before
    assert Delivery.objects.get(pk=dead).resolved_by_id is None


def test_a_dead_letter_that_died_again_since_the_editor_opened_refuses_the_edit(catalog):
    [dead] = make_dead_letters(1)
    client = editor()
    data, version = open_editor(client, dead)
    data["shippingAddress"]["name"] = "Ada Lovelace"
    Delivery.objects.get(pk=dead).save()  # touched (retried and dead again): still dead
    before = snapshot()

    page = confirm(client, dead, data, version)
    assert page.status_code == 409
    assert snapshot() == before


def test_the_correction_is_a_new_event_for_that_subscriber_only_and_the_original_never_resent(
    catalog, worker, relay
):
    [dead] = make_dead_letters(1)
    original = Delivery.objects.select_related("event").get(pk=dead)
    subscribers_of_type = Delivery.objects.filter(event=original.event).count()
    assert subscribers_of_type > 1  # the correction must not fan out to these
    client = editor("ada")
    data, version = open_editor(client, dead)
    data["shippingAddress"]["line1"] = "12 Corrected Street"

    preview = client.post(
        edit_url(dead),
        {"data": json.dumps(data), "version": version, "reason": "wrong street", "step": "preview"},
    )
    assert preview.status_code == 200
    diff = preview.context["diff"]
    assert '+    "line1": "12 Corrected Street",' in diff and "\n-" in diff
    assert Event.objects.filter(causation_id=original.event.event_id).count() == 0  # not yet

    done = confirm(client, dead, data, version, reason="wrong street")
    assert done.status_code == 302

    correction = Event.objects.get(causation_id=original.event.event_id)
    assert correction.event_id != original.event.event_id
    assert correction.correlation_id == original.event.correlation_id
    assert correction.event_type == original.event.event_type
    assert correction.data["shippingAddress"]["line1"] == "12 Corrected Street"
    metadata = to_envelope(correction)["metadata"]
    assert metadata["causationId"] == str(original.event.event_id)
    assert metadata["correction"] == {
        "corrects": str(original.event.event_id),
        "deliveryId": dead,
        "subscriber": FAILED,
        "by": "ada",
        "reason": "wrong street",
    }
    original.refresh_from_db()
    assert original.status == Delivery.Status.RESOLVED
    assert original.resolved_by_id == correction.pk

    [entry] = LogEntry.objects.filter(object_id=str(dead))
    assert entry.user.username == "ada"
    assert "Edited & retried: wrong street" in entry.change_message
    assert '+    "line1": "12 Corrected Street",' in entry.change_message

    [sent] = Delivery.objects.filter(event=correction)
    assert sent.subscriber == FAILED
    wait_until(
        lambda: Delivery.objects.get(pk=sent.pk).status == Delivery.Status.SUCCEEDED,
        timeout=30,
        message="the correction to be delivered",
    )
    [mail] = Notification.objects.filter(order_id=original.event.aggregate_id)
    assert mail.event_id == correction.event_id
    assert "12 Corrected Street" in mail.body

    # The original is never sent again: relay passes leave it as it was.
    attempts, seq = original.attempts, original.dispatch_seq
    for _ in range(3):
        relay_once()
    original.refresh_from_db()
    assert (original.status, original.attempts, original.dispatch_seq) == (
        Delivery.Status.RESOLVED, attempts, seq,
    )  # fmt: skip
    assert original.attempt_log.count() == 0  # make_dead_letters wrote none; none since
    assert dead_letter_retry(delivery_ids=[dead]) == []  # resolved is not retryable

    # The resolved delivery links to its correction in the admin.
    page = client.get(f"/admin/eventhub/delivery/{dead}/change/").content.decode()
    assert f"correction event {correction.event_id}" in page


def test_the_payload_shows_as_text_in_the_editor_and_the_diff(catalog):
    [dead] = make_dead_letters(1, user_id="<script>alert(1)</script>")
    client = editor()
    data, version = open_editor(client, dead)
    assert data["userId"] == "<script>alert(1)</script>"
    assert "<script>alert(1)" not in client.get(edit_url(dead)).content.decode()

    data["shippingAddress"]["name"] = "<img src=x onerror=alert(2)>"
    preview = client.post(
        edit_url(dead),
        {"data": json.dumps(data), "version": version, "reason": "<b>why</b>", "step": "preview"},
    )
    html = preview.content.decode()
    assert preview.status_code == 200
    assert "<img src=x" not in html and "<b>why</b>" not in html
    assert "&lt;img src=x onerror=alert(2)&gt;" in html


def test_a_retry_landing_after_the_checks_is_caught_by_the_conditional_update(catalog, monkeypatch):
    """The version check passed, then the row changed before the write: the dead -> resolved
    UPDATE matches nothing, the correction event rolls back, 409. (The retry is simulated in
    the edit's own transaction, so it rolls back with it; a concurrent one on PostgreSQL
    commits first and the UPDATE, re-reading the row, matches nothing the same way.)"""
    [dead] = make_dead_letters(1)
    client = editor()
    data, version = open_editor(client, dead)
    data["shippingAddress"]["name"] = "Ada"
    check = corrections.correction_check

    def check_then_someone_retries(event: Event, payload: Any) -> None:
        check(event, payload)
        dead_letter_retry(delivery_ids=[dead])

    monkeypatch.setattr(corrections, "correction_check", check_then_someone_retries)
    events = Event.objects.count()
    logs = LogEntry.objects.count()

    page = confirm(client, dead, data, version)
    assert page.status_code == 409
    assert "changed while the correction was being written" in page.content.decode()
    assert Event.objects.count() == events and LogEntry.objects.count() == logs
    assert Delivery.objects.get(pk=dead).resolved_by_id is None
