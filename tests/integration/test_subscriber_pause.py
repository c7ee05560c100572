"""Pausing a subscriber holds its deliveries (not dispatched, not attempted), and resuming
sends them in recorded order, once each, at the retry rate (a real worker and the relay)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from django.contrib.admin.models import LogEntry
from django.core.management import CommandError, call_command
from django.db import connection, transaction
from django.test import Client
from django.utils import timezone

from eventhub.bus import outbox
from eventhub.bus.pauses import subscriber_pause, subscriber_resume
from eventhub.models import Attempt, Delivery, SubscriberPause
from notifications.models import Notification
from orders.events import OrderStatusUpdated
from tests.conftest import relay_thread, wait_until

pytestmark = [pytest.mark.django_db(transaction=True)]

OUTCOME = "notifications.order_outcome"  # effectively-once: the one-transaction path
COUNTER = "orders.count_outcomes"  # at-most-once: the leased path; hears the same events


def record_outcomes(n: int, prefix: str = "ORD-PAUSE") -> list[int]:
    """``n`` final status updates of ``n`` orders, in one transaction; their event ids."""
    with transaction.atomic():
        events = [
            outbox.record(
                OrderStatusUpdated(
                    order_id=f"{prefix}-{i:04d}",
                    user_id="user-1",
                    status="confirmed",
                    previous_status="pending",
                )
            )
            for i in range(n)
        ]
    return [e.pk for e in events]


def deliveries(name: str) -> Any:
    return Delivery.objects.filter(subscriber=name)


def all_succeeded(name: str, n: int) -> bool:
    return deliveries(name).filter(status=Delivery.Status.SUCCEEDED).count() == n


def handled_order(name: str) -> list[int]:
    """Delivery ids of ``name`` in the order their (successful) attempts were recorded."""
    return list(
        Attempt.objects.filter(delivery__subscriber=name)
        .order_by("started_at", "pk")
        .values_list("delivery_id", flat=True)
    )


@pytest.mark.integration
def test_a_paused_subscriber_holds_its_deliveries_and_resume_sends_them_in_order_once(
    worker: Any, relay: Any
) -> None:
    subscriber_pause(name=OUTCOME, user_id=None, reason="mail server down")
    record_outcomes(100)
    # The other subscriber of the same events runs: the events flow, only the pause holds.
    wait_until(lambda: all_succeeded(COUNTER, 100), timeout=60, message="the counter to run")
    wait_until(
        lambda: not deliveries(OUTCOME).filter(dispatched_at__isnull=False).exists(),
        message="the held deliveries to be undispatched",
    )
    held = deliveries(OUTCOME)
    assert held.count() == 100
    assert set(held.values_list("status", flat=True)) == {Delivery.Status.PENDING}
    assert not Attempt.objects.filter(delivery__subscriber=OUTCOME).exists()
    assert not Notification.objects.exists()

    subscriber_resume(name=OUTCOME, user_id=None)
    wait_until(lambda: all_succeeded(OUTCOME, 100), timeout=60, message="the backlog to run")
    wait_until(lambda: not SubscriberPause.objects.exists(), message="the pause to end")
    ids = list(deliveries(OUTCOME).order_by("pk").values_list("pk", flat=True))
    assert handled_order(OUTCOME) == ids  # recorded order, each once: 0 lost, 0 doubled
    assert set(deliveries(OUTCOME).values_list("attempts", flat=True)) == {1}
    assert Notification.objects.count() == 100


@pytest.mark.integration
@pytest.mark.parametrize("name", [OUTCOME, COUNTER], ids=["one-transaction", "leased"])
def test_a_delivery_dispatched_before_the_pause_is_not_attempted(
    name: str, start_worker: Callable[..., Any], relay: Any
) -> None:
    (position,) = record_outcomes(1)  # dispatched at commit: its message waits in the broker
    delivery = Delivery.objects.get(event_id=position, subscriber=name)
    assert delivery.dispatched_at is not None
    other = COUNTER if name == OUTCOME else OUTCOME
    subscriber_pause(name=name, user_id=None)

    start_worker()
    wait_until(lambda: all_succeeded(other, 1), message="the other subscriber to run")
    wait_until(
        lambda: not Delivery.objects.filter(pk=delivery.pk, dispatched_at__isnull=False).exists(),
        message="the worker to put the held delivery back",
    )
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts) == (Delivery.Status.PENDING, 0)
    assert not Attempt.objects.filter(delivery=delivery).exists()

    subscriber_resume(name=name, user_id=None)
    wait_until(lambda: all_succeeded(name, 1), message="the resumed delivery to run")
    delivery.refresh_from_db()
    assert delivery.attempts == 1
    assert Attempt.objects.filter(delivery=delivery).count() == 1


@pytest.mark.integration
def test_a_message_from_before_the_pause_does_nothing_after_the_resume(
    start_worker: Callable[..., Any], relay: Any
) -> None:
    """Resume fences the messages still in the broker: the release sends the delivery in its
    place in the line, and the old message finds another dispatch number."""
    (position,) = record_outcomes(1)
    delivery = Delivery.objects.get(event_id=position, subscriber=OUTCOME)
    seq = delivery.dispatch_seq
    subscriber_pause(name=OUTCOME, user_id=None)
    subscriber_resume(name=OUTCOME, user_id=None)
    delivery.refresh_from_db()
    assert delivery.dispatch_seq == seq + 1
    start_worker()
    wait_until(lambda: all_succeeded(OUTCOME, 1), message="the delivery to run once")
    delivery.refresh_from_db()
    assert delivery.attempts == 1
    assert Notification.objects.count() == 1


@pytest.mark.integration
def test_pausing_again_while_resuming_holds_what_is_not_yet_released(
    worker: Any, relay: Any, settings: Any
) -> None:
    settings.EVENTHUB = {**settings.EVENTHUB, "RETRY_RATE_PER_SECOND": 5}
    subscriber_pause(name=OUTCOME, user_id=None)
    record_outcomes(30)
    subscriber_resume(name=OUTCOME, user_id=None)
    wait_until(
        lambda: deliveries(OUTCOME).filter(status=Delivery.Status.SUCCEEDED).count() >= 3,
        message="the release to start",
    )
    subscriber_pause(name=OUTCOME, user_id=None)
    wait_until(
        lambda: (
            not deliveries(OUTCOME)
            .filter(status=Delivery.Status.PENDING, dispatched_at__isnull=False)
            .exists()
        ),
        message="released messages to be put back",
    )
    done = deliveries(OUTCOME).filter(status=Delivery.Status.SUCCEEDED).count()
    assert done < 30
    settings.EVENTHUB = {**settings.EVENTHUB, "RETRY_RATE_PER_SECOND": 100}
    subscriber_resume(name=OUTCOME, user_id=None)
    wait_until(lambda: all_succeeded(OUTCOME, 30), timeout=60, message="the rest to run")
    ids = list(deliveries(OUTCOME).order_by("pk").values_list("pk", flat=True))
    assert handled_order(OUTCOME) == ids
    assert set(deliveries(OUTCOME).values_list("attempts", flat=True)) == {1}


def least_squares_rate(times: list[float]) -> float:
    """Deliveries per second: the inverse slope of start time against position in the line
    (each relay pass releases a slice, so single gaps are 0 or a whole interval)."""
    n = len(times)
    mean_k, mean_t = (n - 1) / 2, sum(times) / n
    cov = sum((k - mean_k) * (t - mean_t) for k, t in enumerate(times))
    var = sum((k - mean_k) ** 2 for k in range(n))
    return var / cov


@pytest.mark.integration
def test_resume_sends_at_the_retry_rate_with_the_relay_at_its_default_interval(
    worker: Any, settings: Any
) -> None:
    """20/s with the relay's passes 0.5 s apart (as ``./bin/run`` runs it)."""
    rate = 20
    settings.EVENTHUB = {**settings.EVENTHUB, "RETRY_RATE_PER_SECOND": rate}
    subscriber_pause(name=OUTCOME, user_id=None)
    record_outcomes(100)
    with relay_thread(None):
        wait_until(lambda: all_succeeded(COUNTER, 100), timeout=60, message="the counter")
        resumed = timezone.now()
        subscriber_resume(name=OUTCOME, user_id=None)
        wait_until(lambda: all_succeeded(OUTCOME, 100), timeout=60, message="the backlog")
    starts = list(
        Attempt.objects.filter(delivery__subscriber=OUTCOME)
        .order_by("started_at", "pk")
        .values_list("delivery_id", "started_at")
    )
    ids = list(deliveries(OUTCOME).order_by("pk").values_list("pk", flat=True))
    assert [d for d, _ in starts] == ids
    times = [(t - resumed).total_seconds() for _, t in starts]
    measured = least_squares_rate(times)
    overall = len(times) / times[-1]
    print(f"resume at {rate}/s: measured {measured:.1f}/s (fit), {overall:.1f}/s overall")
    assert abs(measured - rate) / rate < 0.10
    assert abs(overall - rate) / rate < 0.15


def test_relay_scan_leaves_a_paused_backlog_alone_and_others_go_by() -> None:
    """Without a worker: the relay's due scan never dispatches a held delivery, so a paused
    backlog neither crowds out nor is sent with the others."""
    from eventhub.bus.relay import relay_once

    subscriber_pause(name=OUTCOME, user_id=None)
    record_outcomes(3)
    Delivery.objects.update(dispatched_at=None)  # as if the web process died at commit
    relay_once()
    assert not deliveries(OUTCOME).filter(dispatched_at__isnull=False).exists()
    assert deliveries(COUNTER).filter(dispatched_at__isnull=False).count() == 3


def test_resume_renumbers_a_queued_message_whose_dispatch_the_relay_reset() -> None:
    """A backlog older than EVENTHUB_REDISPATCH_AFTER_SECONDS: the relay's stale-dispatch
    reset clears ``dispatched_at`` of a message still in the broker and keeps its number.
    The resume must fence it all the same, or it would run at once, off the pace."""
    (position,) = record_outcomes(1)
    delivery = Delivery.objects.get(event_id=position, subscriber=OUTCOME)
    subscriber_pause(name=OUTCOME, user_id=None)
    Delivery.objects.filter(pk=delivery.pk).update(dispatched_at=None, dispatch_seq=1)
    subscriber_resume(name=OUTCOME, user_id=None)
    delivery.refresh_from_db()
    assert (delivery.dispatch_seq, delivery.dispatched_at) == (2, None)


# --- commands ----------------------------------------------------------------------------


def test_pause_and_resume_commands(capsys: pytest.CaptureFixture[str]) -> None:
    operator("pause_subscriber")
    call_command("eventhub_pause", OUTCOME, "--reason", "deploy", "--user", "operator")
    pause = SubscriberPause.objects.get(subscriber=OUTCOME)
    assert (pause.state, pause.reason, pause.paused_by.username) == ("paused", "deploy", "operator")
    assert f"paused {OUTCOME}" in capsys.readouterr().out
    call_command("eventhub_pause", OUTCOME, "--user", "operator")
    assert "already paused" in capsys.readouterr().out
    call_command("eventhub_resume", OUTCOME, "--user", "operator")
    assert f"resumed {OUTCOME}" in capsys.readouterr().out
    assert SubscriberPause.objects.get(subscriber=OUTCOME).state == "resuming"


@pytest.mark.parametrize("command", ["eventhub_pause", "eventhub_resume"])
def test_commands_name_an_unknown_subscriber(command: str) -> None:
    operator("pause_subscriber")
    with pytest.raises(CommandError, match="no subscriber named 'notifications.nope'"):
        call_command(command, "notifications.nope", "--user", "operator")
    assert not SubscriberPause.objects.exists()


@pytest.mark.parametrize("command", ["eventhub_pause", "eventhub_resume"])
def test_commands_without_a_user_are_refused_naming_the_option(command: str) -> None:
    with pytest.raises(CommandError, match="--user"):
        call_command(command, OUTCOME)
    with pytest.raises(CommandError, match="--user is required"):
        call_command(command, OUTCOME, "--user", " ")
    assert not SubscriberPause.objects.exists()
    assert not LogEntry.objects.exists()


def test_resuming_a_subscriber_that_is_not_paused_is_refused() -> None:
    operator("pause_subscriber")
    with pytest.raises(CommandError, match=f"{OUTCOME} is not paused"):
        call_command("eventhub_resume", OUTCOME, "--user", "operator")


def test_a_reason_longer_than_500_characters_is_refused() -> None:
    operator("pause_subscriber")
    with pytest.raises(CommandError, match="reason: at most 500"):
        call_command("eventhub_pause", OUTCOME, "--reason", "x" * 501, "--user", "operator")
    assert not SubscriberPause.objects.exists()


# --- the dashboard's endpoint ------------------------------------------------------------

URL = "/dashboard/api/pauses"


def operator(*perms: str, username: str = "operator") -> Any:
    from django.contrib.auth.models import Permission, User

    user = User.objects.create_user(username, password="pw-operator-1", is_staff=True)
    for perm in perms:
        user.user_permissions.add(Permission.objects.get(codename=perm))
    return user


def client_for(user: Any, *, csrf: bool = False) -> Client:
    client = Client(enforce_csrf_checks=csrf)
    client.force_login(user)
    return client


def post(client: Client, body: Any, **headers: str) -> Any:
    import json

    return client.post(URL, json.dumps(body), content_type="application/json", headers=headers)


def test_the_endpoint_needs_the_pause_permission() -> None:
    response = post(client_for(operator()), {"subscriber": OUTCOME, "paused": True})
    assert response.status_code == 403
    assert "eventhub.pause_subscriber" in response.json()["error"]
    assert not SubscriberPause.objects.exists()
    anonymous = Client().post(URL, "{}", content_type="application/json")
    assert anonymous.status_code == 401


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"paused": True}, "subscriber:"),
        ({"subscriber": "nope.nothing", "paused": True}, "subscriber: no subscriber named"),
        ({"subscriber": OUTCOME}, "paused:"),
        ({"subscriber": OUTCOME, "paused": "yes"}, "paused:"),
        ({"subscriber": OUTCOME, "paused": True, "reason": 5}, "reason:"),
        ({"subscriber": OUTCOME, "paused": True, "reason": "x" * 501}, "reason:"),
        ({"subscriber": OUTCOME, "paused": False}, "subscriber: notifications.order_outcome is"),
        ([1, 2], "body:"),
    ],
)
def test_bad_input_is_a_400_naming_the_field(body: Any, field: str) -> None:
    response = post(client_for(operator("pause_subscriber")), body)
    assert response.status_code == 400, response.content
    assert response.json()["error"].startswith(field)
    assert not SubscriberPause.objects.exists()


def test_the_endpoint_needs_the_csrf_token() -> None:
    client = client_for(operator("pause_subscriber"), csrf=True)
    refused = post(client, {"subscriber": OUTCOME, "paused": True})
    assert refused.status_code == 403
    assert not SubscriberPause.objects.exists()
    client.get("/dashboard/")  # sets the csrftoken cookie
    token = client.cookies["csrftoken"].value
    accepted = post(client, {"subscriber": OUTCOME, "paused": True}, **{"X-CSRFToken": token})
    assert accepted.status_code == 200


def test_pause_and_resume_from_the_dashboard_are_audited() -> None:
    user = operator("pause_subscriber")
    client = client_for(user)
    paused = post(client, {"subscriber": OUTCOME, "paused": True, "reason": "SMTP relay down"})
    assert paused.status_code == 200
    data = paused.json()["data"]
    assert (data["state"], data["pausedBy"], data["reason"]) == (
        "paused",
        "operator",
        "SMTP relay down",
    )
    assert client.get(URL).json()["data"][0]["subscriber"] == OUTCOME
    resumed = post(client, {"subscriber": OUTCOME, "paused": False})
    assert resumed.json()["data"]["state"] == "resuming"
    entries = list(LogEntry.objects.order_by("pk").values_list("user__username", "change_message"))
    assert entries[0] == ("operator", f"Paused {OUTCOME}: SMTP relay down")
    assert entries[1][0] == "operator"
    assert entries[1][1].startswith(f"Resumed {OUTCOME}: 0 held deliveries")


def test_held_counts_are_in_the_dashboard_summary() -> None:
    from eventhub.bus.pauses import pauses_summary

    subscriber_pause(name=OUTCOME, user_id=None, reason="r")
    record_outcomes(4)
    (pause,) = pauses_summary()
    assert (pause["subscriber"], pause["state"], pause["held"]) == (OUTCOME, "paused", 4)


# --- the admin ---------------------------------------------------------------------------

ADMIN = "/admin/eventhub/subscriberpause/"


def test_the_admin_pauses_with_a_reason_and_resumes_the_selected() -> None:
    client = client_for(operator("pause_subscriber"))
    assert client.get(ADMIN).status_code == 200
    added = client.post(f"{ADMIN}add/", {"subscriber": OUTCOME, "reason": "carrier outage"})
    assert added.status_code == 302, added.content.decode()[-2000:]
    pause = SubscriberPause.objects.get()
    assert (pause.subscriber, pause.state, pause.reason) == (OUTCOME, "paused", "carrier outage")
    assert pause.paused_by.username == "operator"
    listing = client.get(ADMIN).content.decode()
    assert OUTCOME in listing and "carrier outage" in listing
    resumed = client.post(
        ADMIN, {"action": "resume_selected", "_selected_action": [pause.pk]}, follow=True
    )
    assert f"Resumed {OUTCOME}" in resumed.content.decode()
    assert SubscriberPause.objects.get().state == "resuming"
    messages = list(LogEntry.objects.order_by("pk").values_list("change_message", flat=True))
    assert messages[0] == f"Paused {OUTCOME}: carrier outage"
    assert messages[1].startswith(f"Resumed {OUTCOME}")
    assert len(messages) == 2


def test_the_admin_refuses_to_pause_without_the_permission() -> None:
    client = client_for(operator())
    assert client.post(f"{ADMIN}add/", {"subscriber": OUTCOME}).status_code == 403
    assert not SubscriberPause.objects.exists()


def test_held_deliveries_are_not_outbox_lag() -> None:
    from eventhub.metrics.readings import outbox_lag

    subscriber_pause(name=OUTCOME, user_id=None)
    record_outcomes(2)
    Delivery.objects.filter(subscriber=COUNTER).update(dispatched_at=timezone.now())
    Delivery.objects.update(next_attempt_at=timezone.now() - timedelta(seconds=60))
    assert outbox_lag().samples[0].value == 0.0
    subscriber_resume(name=OUTCOME, user_id=None)
    assert outbox_lag().samples[0].value == 0.0  # resuming: the relay's release paces them


def test_commands_with_a_user_are_audited() -> None:
    operator("pause_subscriber")
    call_command("eventhub_pause", OUTCOME, "--reason", "deploy", "--user", "operator")
    call_command("eventhub_resume", OUTCOME, "--user", "operator")
    assert SubscriberPause.objects.get().paused_by.username == "operator"
    entries = list(LogEntry.objects.order_by("pk").values_list("user__username", "change_message"))
    assert entries[0] == ("operator", f"Paused {OUTCOME}: deploy")
    assert entries[1][1].startswith(f"Resumed {OUTCOME}")
    with pytest.raises(CommandError, match="--user: no user named 'nobody'"):
        call_command("eventhub_pause", COUNTER, "--user", "nobody")
    assert SubscriberPause.objects.count() == 1


@pytest.mark.integration
@pytest.mark.postgres
def test_no_attempt_starts_after_a_pause_lands_in_a_stream_of_deliveries(
    worker: Any, relay: Any
) -> None:
    """The pause is checked by each claim: whatever was queued or in flight when it
    committed, no attempt of the subscriber starts after that (every put-back is counted
    nowhere), and after the resume each delivery has run exactly once.

    PostgreSQL, where claims and the pause commit side by side. On SQLite the pause waits
    for the database's one write lock, which two workers running deliveries back to back
    may hold until the stream is done (seen: all 300 ran before the pause landed)."""
    if connection.vendor != "postgresql":
        pytest.skip("SQLite serialises the pause behind the workers' write lock")
    record_outcomes(300)
    wait_until(
        lambda: deliveries(OUTCOME).filter(status=Delivery.Status.SUCCEEDED).count() >= 20,
        message="the stream to be under way",
    )
    subscriber_pause(name=OUTCOME, user_id=None)
    landed = timezone.now()
    wait_until(
        lambda: (
            not deliveries(OUTCOME)
            .filter(status__in=[Delivery.Status.PENDING, Delivery.Status.RUNNING])
            .filter(dispatched_at__isnull=False)
            .exists()
        ),
        timeout=60,
        message="every queued message of the paused subscriber to be put back",
    )
    held = deliveries(OUTCOME).filter(status=Delivery.Status.PENDING).count()
    assert held > 0
    assert not Attempt.objects.filter(delivery__subscriber=OUTCOME, started_at__gt=landed).exists()
    assert not deliveries(OUTCOME).filter(status=Delivery.Status.PENDING, attempts__gt=0).exists()

    subscriber_resume(name=OUTCOME, user_id=None)
    wait_until(lambda: all_succeeded(OUTCOME, 300), timeout=60, message="the rest to run")
    assert set(deliveries(OUTCOME).values_list("attempts", flat=True)) == {1}
    assert Attempt.objects.filter(delivery__subscriber=OUTCOME).count() == 300
    assert Notification.objects.count() == 300
