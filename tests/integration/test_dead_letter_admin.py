"""The operator's repair loop in the admin: retry, discard, permissions, batches, log."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from django.contrib.admin.models import LogEntry
from django.contrib.auth.models import Permission, User
from django.contrib.contenttypes.models import ContentType
from django.db import connection, transaction
from django.db.models import F
from django.test import Client
from django.utils import timezone

from eventhub.bus.dead_letters import dead_letter_retry
from eventhub.bus.retry_batches import CATCH_UP_SECONDS
from eventhub.models import DeadLetter, Delivery, Event, RetryBatch
from notifications.models import Notification
from orders.services import ItemInput, order_place
from tests.conftest import wait_until

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

FAILED = "notifications.order_confirmation"
CHANGELIST = "/admin/eventhub/deadletter/"


def make_dead_letters(count: int, user_id: str = "user-1") -> list[int]:
    """Publish ``count`` order.created events whose confirmation mail is dead (others done)."""
    now = timezone.now()
    with transaction.atomic():
        orders = [
            order_place(user_id=user_id, items=[ItemInput("PROD-001", 1, None)])
            for _ in range(count)
        ]
        events = Event.objects.filter(
            event_type="order.created", aggregate_id__in=[o.order_id for o in orders]
        )
        deliveries = Delivery.objects.filter(event__in=events)
        deliveries.exclude(subscriber=FAILED).update(status=Delivery.Status.SUCCEEDED)
        dead = deliveries.filter(subscriber=FAILED)
        dead.update(
            status=Delivery.Status.DEAD,
            attempts=F("max_attempts"),
            last_error="InjectedFault: fault injected",
            error_type="InjectedFault",
            dead_at=now,
        )
        return list(dead.values_list("pk", flat=True))


def staff(username: str, *perms: str) -> User:
    user = User.objects.create_user(username, password="pw", is_staff=True)
    user.user_permissions.set(Permission.objects.filter(codename__in=perms))
    return user


OPERATOR_PERMS = (
    "view_deadletter",
    "retry_deadletter",
    "discard_deadletter",
    "view_retrybatch",
    "view_delivery",
    "view_event",
)


def logged_in(user: User, **kwargs) -> Client:
    client = Client(**kwargs)
    client.force_login(user)
    return client


def test_staff_without_the_retry_permission_sees_no_retry_and_a_forged_post_is_refused():
    [dead] = make_dead_letters(1)
    viewer = logged_in(staff("viewer", "view_deadletter"))

    page = viewer.get(CHANGELIST)
    assert page.status_code == 200
    html = page.content.decode()
    assert "retry_selected" not in html and "discard_selected" not in html
    assert "retry-matching" not in html

    forged = viewer.post(CHANGELIST, {"action": "retry_selected", "_selected_action": [dead]})
    assert forged.status_code in (200, 302)
    matching = viewer.post(f"{CHANGELIST}retry-matching/", {"query": ""})
    assert matching.status_code == 302
    group = viewer.post(
        f"{CHANGELIST}groups/", {"subscriber": FAILED, "error_type": "InjectedFault"}
    )
    assert group.status_code == 302
    discard = viewer.post(
        CHANGELIST,
        {"action": "discard_selected", "_selected_action": [dead], "apply": "1", "reason": "x"},
    )
    assert discard.status_code in (200, 302)
    assert not RetryBatch.objects.exists()
    assert Delivery.objects.get(pk=dead).status == Delivery.Status.DEAD
    assert not LogEntry.objects.exists()


def test_a_post_without_a_csrf_token_is_refused():
    [dead] = make_dead_letters(1)
    operator = logged_in(staff("op", *OPERATOR_PERMS), enforce_csrf_checks=True)
    response = operator.post(CHANGELIST, {"action": "retry_selected", "_selected_action": [dead]})
    assert response.status_code == 403
    response = operator.post(f"{CHANGELIST}retry-matching/", {"query": ""})
    assert response.status_code == 403
    assert not RetryBatch.objects.exists()


def test_two_concurrent_retries_of_one_dead_letter_apply_it_once(worker, relay):
    [dead] = make_dead_letters(1)
    before = Delivery.objects.get(pk=dead)
    barrier = threading.Barrier(2)
    results: list[list[int]] = []

    def retry() -> None:
        try:
            barrier.wait(5)
            results.append(dead_letter_retry(delivery_ids=[dead]))
        finally:
            connection.close()

    threads = [threading.Thread(target=retry) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert sorted(results) == [[], [dead]]

    wait_until(
        lambda: Delivery.objects.get(pk=dead).status == Delivery.Status.SUCCEEDED,
        message="the retried delivery to succeed",
    )
    after = Delivery.objects.get(pk=dead)
    assert after.attempts == before.attempts + 1
    assert after.max_attempts == before.max_attempts + before.max_attempts
    assert after.attempt_log.count() == 1  # the dead attempts were made up in this test
    assert Notification.objects.filter(event_id=after.event.event_id).count() == 1


def test_retrying_500_dead_letters_keeps_to_the_rate_and_shows_progress(
    start_worker, relay, settings
):
    settings.EVENTHUB = {**settings.EVENTHUB, "RETRY_RATE_PER_SECOND": 100}
    start_worker(concurrency=2)
    dead = make_dead_letters(500)
    operator = logged_in(staff("op", *OPERATOR_PERMS))

    response = operator.post(
        f"{CHANGELIST}retry-matching/", {"query": f"subscriber__exact={FAILED}"}
    )
    assert response.status_code == 302
    batch = RetryBatch.objects.get()
    assert batch.total == 500 and batch.rate_per_second == 100

    seen: set[int] = set()

    def finished() -> bool:
        done = RetryBatch.objects.get(pk=batch.pk).done
        seen.add(done)
        return done == 500

    wait_until(finished, timeout=60, interval=0.1, message="the batch to finish")
    assert any(0 < done < 500 for done in seen), seen  # progress was visible on the way
    wait_until(
        lambda: (
            Delivery.objects.filter(pk__in=dead, status=Delivery.Status.SUCCEEDED).count() == 500
        ),
        timeout=120,
        interval=0.2,
        message="every retried delivery to succeed",
    )
    assert DeadLetter.objects.count() == 0
    assert Notification.objects.count() == 500
    assert set(Delivery.objects.filter(pk__in=dead).values_list("attempts", flat=True)) == {
        Delivery.objects.get(pk=dead[0]).attempts
    }

    # No more than the rate: any one-second window holds at most 100 requeues, and what a
    # late relay catches up (at most CATCH_UP_SECONDS of the rate).
    times = sorted(Delivery.objects.filter(pk__in=dead).values_list("retried_at", flat=True))
    window = timedelta(seconds=1)
    busiest = max(sum(1 for t in times[i:] if t - start < window) for i, start in enumerate(times))
    assert busiest <= 100 * (1 + CATCH_UP_SECONDS) + 1, busiest
    assert times[-1] - times[0] >= timedelta(seconds=500 / 100 * 0.8)

    page = operator.get(f"/admin/eventhub/retrybatch/{batch.pk}/change/")
    assert "500/500" in page.content.decode()
    # Audited as done: one entry per requeued dead letter, one for the batch itself.
    entries = LogEntry.objects.filter(user__username="op")
    assert entries.filter(content_type=ContentType.objects.get_for_model(Delivery)).count() == 500
    assert entries.filter(content_type=ContentType.objects.get_for_model(RetryBatch)).count() == 1


def test_discard_requires_a_reason_and_keeps_the_record_with_it():
    [dead] = make_dead_letters(1)
    operator = logged_in(staff("op", *OPERATOR_PERMS))
    form = operator.post(CHANGELIST, {"action": "discard_selected", "_selected_action": [dead]})
    assert form.status_code == 200
    assert "reason" in form.content.decode()

    empty = operator.post(
        CHANGELIST,
        {"action": "discard_selected", "_selected_action": [dead], "apply": "1", "reason": "  "},
    )
    assert empty.status_code == 400  # refused, by field, as every admin form refuses
    assert "This field is required" in empty.content.decode()
    assert Delivery.objects.get(pk=dead).status == Delivery.Status.DEAD

    done = operator.post(
        CHANGELIST,
        {
            "action": "discard_selected",
            "_selected_action": [dead],
            "apply": "1",
            "reason": "customer cancelled by phone",
        },
    )
    assert done.status_code == 302
    delivery = Delivery.objects.get(pk=dead)
    assert delivery.status == Delivery.Status.DISCARDED
    assert delivery.discard_reason == "customer cancelled by phone"
    entry = LogEntry.objects.get()
    assert entry.user.username == "op"
    assert "customer cancelled by phone" in entry.change_message
    assert DeadLetter.objects.count() == 0


def test_dead_letters_are_grouped_by_subscriber_and_error_and_a_group_retries_at_once():
    make_dead_letters(3)
    other = make_dead_letters(2)
    Delivery.objects.filter(pk__in=other).update(error_type="TimeoutError")
    operator = logged_in(staff("op", *OPERATOR_PERMS))

    html = operator.get(f"{CHANGELIST}groups/").content.decode()
    assert "InjectedFault" in html and "TimeoutError" in html
    assert "Retry these 3" in html and "Retry these 2" in html

    operator.post(f"{CHANGELIST}groups/", {"subscriber": FAILED, "error_type": "TimeoutError"})
    batch = RetryBatch.objects.get()
    assert sorted(batch.delivery_ids) == sorted(other)


def test_event_payloads_show_as_text_and_events_are_searchable_by_correlation_id():
    make_dead_letters(1, user_id="<script>alert(1)</script>")
    event = Event.objects.get()
    admin = logged_in(User.objects.create_superuser("root", password="pw"))

    found = admin.get("/admin/eventhub/event/", {"q": event.correlation_id}).content.decode()
    assert str(event.event_type) in found and "1 event" in found
    missing = admin.get("/admin/eventhub/event/", {"q": "no-such-flow"}).content.decode()
    assert "0 events" in missing

    page = admin.get(f"/admin/eventhub/event/{event.pk}/change/").content.decode()
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "<script>alert(1)</script>" not in page
