"""Retry and discard of one dead letter where the operator looks at it: the dashboard's JSON
endpoints and the admin's dead-letter detail page. Refused without the permission or the CSRF
token (and nothing written), audited with user and reason, bad input named, never a 500."""

from __future__ import annotations

import json

import pytest
from django.contrib.admin.models import LogEntry
from django.contrib.auth.models import Permission, User
from django.test import Client

from eventhub.models import Delivery, Event, RetryBatch
from tests.conftest import wait_until
from tests.integration.test_dead_letter_admin import (
    OPERATOR_PERMS,
    logged_in,
    make_dead_letters,
    staff,
)

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

API = "/dashboard/api/dead-letters"
ADMIN = "/admin/eventhub/deadletter"


def post_json(client: Client, url: str, body: object, **headers: str):
    return client.post(url, json.dumps(body), content_type="application/json", headers=headers)


def nothing_written(dead: int) -> None:
    assert Delivery.objects.get(pk=dead).status == Delivery.Status.DEAD
    assert not RetryBatch.objects.exists()
    assert not LogEntry.objects.exists()


# --- the dashboard's endpoints --------------------------------------------------------------


def test_dashboard_endpoints_refuse_staff_without_the_permission_and_write_nothing():
    [dead] = make_dead_letters(1)
    viewer = logged_in(staff("viewer", "view_deadletter", "view_delivery"))
    retry = post_json(viewer, f"{API}/{dead}/retry", {})
    assert retry.status_code == 403
    assert retry.json()["error"] == "permission eventhub.retry_deadletter required"
    discard = post_json(viewer, f"{API}/{dead}/discard", {"reason": "refunded"})
    assert discard.status_code == 403
    assert discard.json()["error"] == "permission eventhub.discard_deadletter required"
    # One right does not grant the other.
    retrier = logged_in(staff("retrier", "retry_deadletter"))
    assert post_json(retrier, f"{API}/{dead}/discard", {"reason": "x"}).status_code == 403
    discarder = logged_in(staff("discarder", "discard_deadletter"))
    assert post_json(discarder, f"{API}/{dead}/retry", {}).status_code == 403
    # Not staff (even with the permissions), or not logged in.
    shopper = User.objects.create_user("shopper", password="pw")
    shopper.user_permissions.set(Permission.objects.filter(codename__in=OPERATOR_PERMS))
    assert post_json(logged_in(shopper), f"{API}/{dead}/retry", {}).status_code == 403
    assert post_json(Client(), f"{API}/{dead}/retry", {}).status_code == 401
    nothing_written(dead)


def test_dashboard_endpoints_refuse_a_post_without_the_csrf_token():
    [dead] = make_dead_letters(1)
    operator = logged_in(staff("op", *OPERATOR_PERMS), enforce_csrf_checks=True)
    assert operator.get("/dashboard/").status_code == 200  # sets the csrftoken cookie
    assert post_json(operator, f"{API}/{dead}/retry", {}).status_code == 403
    assert post_json(operator, f"{API}/{dead}/discard", {"reason": "x"}).status_code == 403
    wrong = post_json(operator, f"{API}/{dead}/retry", {}, X_CSRFToken="x" * 32)
    assert wrong.status_code == 403
    nothing_written(dead)

    token = operator.cookies["csrftoken"].value
    allowed = post_json(operator, f"{API}/{dead}/retry", {}, X_CSRFToken=token)
    assert allowed.status_code == 202


def test_retry_from_the_dashboard_goes_through_a_batch_is_logged_and_succeeds(worker, relay):
    [dead] = make_dead_letters(1)
    before = Delivery.objects.get(pk=dead)
    operator = logged_in(staff("op", *OPERATOR_PERMS))

    response = post_json(operator, f"{API}/{dead}/retry", {})
    assert response.status_code == 202
    batch = RetryBatch.objects.get()
    assert response.json()["data"] == {"id": dead, "batch": batch.pk}
    assert batch.delivery_ids == [dead] and batch.requested_by.username == "op"

    wait_until(
        lambda: Delivery.objects.get(pk=dead).status == Delivery.Status.SUCCEEDED,
        message="the retried delivery to succeed",
    )
    after = Delivery.objects.get(pk=dead)
    assert after.attempts == before.attempts + 1 and after.retried_at is not None
    assert RetryBatch.objects.get().requeued == 1
    # Logged when it happened: the batch when asked, the dead letter when requeued.
    started, retried = LogEntry.objects.order_by("pk")
    assert (started.user.username, started.object_id) == ("op", str(batch.pk))
    assert started.change_message.startswith("Started: retry 1 dead letter(s)")
    assert (retried.user.username, retried.object_id) == ("op", str(dead))
    assert retried.change_message == f"Retried (dashboard; batch {batch.pk})"


def test_discard_from_the_dashboard_keeps_the_reason_and_is_logged():
    [dead] = make_dead_letters(1)
    operator = logged_in(staff("op", *OPERATOR_PERMS))
    response = post_json(operator, f"{API}/{dead}/discard", {"reason": "  refunded by phone "})
    assert response.status_code == 200
    assert response.json()["data"] == {"id": dead, "status": "discarded"}
    delivery = Delivery.objects.get(pk=dead)
    assert delivery.status == Delivery.Status.DISCARDED
    assert delivery.discard_reason == "refunded by phone"
    entry = LogEntry.objects.get()
    assert (entry.user.username, entry.object_id) == ("op", str(dead))
    assert entry.change_message == "Discarded: refunded by phone"
    assert not RetryBatch.objects.exists()


@pytest.mark.parametrize(
    ("body", "error"),
    [
        ({}, "reason: a reason is required to discard a dead letter"),
        ({"reason": "   "}, "reason: a reason is required to discard a dead letter"),
        ({"reason": 42}, "reason: a reason is required to discard a dead letter"),
        (["reason"], "reason: a reason is required to discard a dead letter"),
        ({"reason": "x" * 2001}, "reason: at most 2000 characters"),
        ("not json", "body: must be valid JSON"),
    ],
)
def test_discard_without_a_usable_reason_is_a_400_naming_it(body, error):
    [dead] = make_dead_letters(1)
    operator = logged_in(staff("op", *OPERATOR_PERMS))
    raw = body if isinstance(body, str) else json.dumps(body)
    response = operator.post(f"{API}/{dead}/discard", raw, content_type="application/json")
    assert response.status_code == 400
    assert response.json() == {"success": False, "error": error}
    nothing_written(dead)


def test_unknown_ids_not_dead_deliveries_and_wrong_methods_are_named_never_a_500():
    [dead, done] = make_dead_letters(2)
    Delivery.objects.filter(pk=done).update(status=Delivery.Status.SUCCEEDED)
    operator = logged_in(staff("op", *OPERATOR_PERMS))
    for action, body in (("retry", {}), ("discard", {"reason": "x"})):
        unknown = post_json(operator, f"{API}/999999/{action}", body)
        assert unknown.status_code == 404
        assert unknown.json()["error"] == "id: no delivery 999999"
        not_dead = post_json(operator, f"{API}/{done}/{action}", body)
        assert not_dead.status_code == 400
        assert not_dead.json()["error"].startswith(f"id: delivery {done} is succeeded, not dead")
        assert operator.get(f"{API}/{dead}/{action}").status_code == 405
        assert post_json(operator, f"{API}/abc/{action}", body).status_code == 404
    # A second retry of one already requeued is refused too.
    assert post_json(operator, f"{API}/{dead}/retry", {}).status_code == 202
    Delivery.objects.filter(pk=dead).update(status=Delivery.Status.PENDING)
    assert post_json(operator, f"{API}/{dead}/retry", {}).status_code == 400
    assert RetryBatch.objects.count() == 1 and LogEntry.objects.count() == 1
    assert Delivery.objects.get(pk=done).status == Delivery.Status.SUCCEEDED


def test_the_dashboard_page_is_told_the_rights_and_links_to_the_dead_letter_admin():
    operator = logged_in(staff("op", *OPERATOR_PERMS))
    page = operator.get("/dashboard/").content.decode()
    assert (
        '<script id="dead-letter-rights" type="application/json">'
        '{"retry": true, "discard": true, "edit": false, "adminUrl": "/admin/eventhub/deadletter/"}'
    ) in page
    editor = logged_in(staff("editor", "view_deadletter", "edit_deadletter"))
    assert '"edit": true' in editor.get("/dashboard/").content.decode()
    assert 'id="dead-admin" href="/admin/eventhub/deadletter/"' in page
    assert "status__exact=dead" not in page

    viewer = logged_in(staff("viewer", "view_deadletter"))
    page = viewer.get("/dashboard/").content.decode()
    assert '{"retry": false, "discard": false, ' in page


# --- the admin's detail page ----------------------------------------------------------------


def test_the_detail_page_offers_retry_and_discard_only_with_the_permissions():
    [dead] = make_dead_letters(1)
    operator = logged_in(staff("op", *OPERATOR_PERMS))
    page = operator.get(f"{ADMIN}/{dead}/change/").content.decode()
    assert f'action="{ADMIN}/{dead}/retry/"' in page
    assert f'action="{ADMIN}/{dead}/discard/"' in page
    assert 'name="reason"' in page and "required" in page

    viewer = logged_in(staff("viewer", "view_deadletter"))
    page = viewer.get(f"{ADMIN}/{dead}/change/")
    assert page.status_code == 200
    html = page.content.decode()
    assert "/retry/" not in html and "/discard/" not in html and "dead-letter-repair" not in html

    retrier = logged_in(staff("retrier", "view_deadletter", "retry_deadletter"))
    html = retrier.get(f"{ADMIN}/{dead}/change/").content.decode()
    assert "/retry/" in html and "/discard/" not in html


def test_the_detail_page_refuses_posts_without_the_permission_or_the_csrf_token():
    [dead] = make_dead_letters(1)
    viewer = logged_in(staff("viewer", "view_deadletter"))
    assert viewer.post(f"{ADMIN}/{dead}/retry/").status_code == 403
    assert viewer.post(f"{ADMIN}/{dead}/discard/", {"reason": "x"}).status_code == 403
    operator = logged_in(staff("op", *OPERATOR_PERMS), enforce_csrf_checks=True)
    assert operator.post(f"{ADMIN}/{dead}/retry/").status_code == 403
    assert operator.post(f"{ADMIN}/{dead}/discard/", {"reason": "x"}).status_code == 403
    nothing_written(dead)


def test_retry_from_the_detail_page_starts_a_batch_logs_it_and_shows_the_delivery():
    [dead] = make_dead_letters(1)
    operator = logged_in(staff("op", *OPERATOR_PERMS))
    response = operator.post(f"{ADMIN}/{dead}/retry/", follow=True)
    assert response.redirect_chain == [(f"/admin/eventhub/delivery/{dead}/change/", 302)]
    batch = RetryBatch.objects.get()
    assert batch.delivery_ids == [dead]
    assert "Retrying 1 dead letter(s)" in response.content.decode()
    # The batch is logged now; the dead letter only once the relay requeues it (none runs).
    entry = LogEntry.objects.get()
    assert (entry.user.username, entry.object_id) == ("op", str(batch.pk))
    assert entry.change_message == "Started: retry 1 dead letter(s) at 50/s (detail page)"


def test_discard_from_the_detail_page_needs_a_reason_and_logs_it():
    [dead] = make_dead_letters(1)
    operator = logged_in(staff("op", *OPERATOR_PERMS))
    empty = operator.post(f"{ADMIN}/{dead}/discard/", {"reason": "  "})
    assert empty.status_code == 400
    assert "reason: This field is required." in empty.content.decode()
    nothing_written(dead)

    done = operator.post(f"{ADMIN}/{dead}/discard/", {"reason": "duplicate order"})
    assert done.status_code == 302
    delivery = Delivery.objects.get(pk=dead)
    assert (delivery.status, delivery.discard_reason) == ("discarded", "duplicate order")
    entry = LogEntry.objects.get()
    assert (entry.user.username, entry.change_message) == ("op", "Discarded: duplicate order")


def test_the_detail_page_actions_answer_404_for_unknown_and_400_for_not_dead():
    [done] = make_dead_letters(1)
    Delivery.objects.filter(pk=done).update(status=Delivery.Status.SUCCEEDED)
    operator = logged_in(staff("op", *OPERATOR_PERMS))
    for action in ("retry", "discard"):
        assert operator.post(f"{ADMIN}/999999/{action}/", {"reason": "x"}).status_code == 404
        refused = operator.post(f"{ADMIN}/{done}/{action}/", {"reason": "x"})
        assert refused.status_code == 400
        assert f"id: delivery {done} is succeeded, not dead" in refused.content.decode()
        assert operator.get(f"{ADMIN}/{done}/{action}/").status_code == 405
    assert not RetryBatch.objects.exists() and not LogEntry.objects.exists()


def test_the_admin_flow_links_open_the_flow_on_the_dashboard():
    [dead] = make_dead_letters(1)
    event = Event.objects.get(deliveries__pk=dead)
    operator = logged_in(staff("op", *OPERATOR_PERMS))
    page = operator.get(f"{ADMIN}/{dead}/change/").content.decode()
    assert f"href='/dashboard/?flow={event.correlation_id}'" in page
    assert "correlationId=" not in page
