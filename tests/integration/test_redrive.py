"""Redriving a subscriber over a time window (issue 14.3), as an operator runs it: the relay
at its DEFAULT interval (``manage.py eventhub_relay``), a real worker, the rate measured from
the times in the database, as tests/integration/test_retry_batches.py measures batches."""

from __future__ import annotations

import io
from datetime import timedelta

import pytest
from django.contrib.auth.models import User
from django.core.management import CommandError, call_command
from django.db import transaction
from django.utils import timezone

from eventhub.models import Delivery, Event, ProcessedEvent, RetryBatch
from orders.services import ItemInput, order_place
from tests.conftest import wait_until
from tests.integration.saga import reserve_stock_of
from tests.integration.test_dead_letter_admin import FAILED, make_dead_letters
from tests.integration.test_retry_batches import default_relay, requeue_times  # noqa: F401

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

PROJECTION = "orders.record_saga_step"
RATE = 20


def make_reservations(count: int) -> list[int]:
    """``count`` orders with their stock reserved (inventory.updated, the projection's event),
    every delivery already succeeded: the window's history."""
    with transaction.atomic():
        orders = [
            order_place(user_id="user-1", items=[ItemInput("PROD-003", 1, None)])
            for _ in range(count)
        ]
        for order in orders:
            reserve_stock_of(order)
        Delivery.objects.update(status=Delivery.Status.SUCCEEDED, attempts=1)
    return list(
        Event.objects.filter(event_type="inventory.updated")
        .order_by("id")
        .values_list("pk", flat=True)
    )


AUDIT = ("--user", "op", "--reason", "rebuild")
"""Who and why: required of every redrive that is not a dry run."""


@pytest.fixture
def operator() -> User:
    return User.objects.create_user("op", is_staff=True)


def redrive(*args: str) -> str:
    out = io.StringIO()
    call_command("eventhub_redrive", *args, stdout=out)
    return out.getvalue()


def window() -> tuple[str, str]:
    """From the first event to just after the last one."""
    first = Event.objects.order_by("id").first().recorded_at
    last = Event.objects.order_by("-id").first().recorded_at
    return first.isoformat(), (last + timedelta(milliseconds=1)).isoformat()


def measured_rate(times: list[float]) -> float:
    return (len(times) - 1) / (times[-1] - times[0])


def test_redrive_all_sends_the_window_again_at_its_rate_with_the_default_relay(
    operator,
    start_worker,
    default_relay,  # noqa: F811
):
    start_worker(concurrency=2)
    size = 100
    before = timezone.now() - timedelta(seconds=1)
    reservations = make_reservations(size)
    since, until = window()
    # An event after the window is left alone.
    make_reservations(1)

    out = redrive(
        "--subscriber", PROJECTION, "--since", since, "--until", until,
        "--status", "all", "--rate", str(RATE), *AUDIT,
    )  # fmt: skip
    batch = RetryBatch.objects.get()
    assert (batch.kind, batch.total, batch.rate_per_second) == ("replay", size, RATE)
    assert f"replay batch {batch.pk}" in out
    wait_until(
        lambda: RetryBatch.objects.get(pk=batch.pk).finished_at,
        timeout=size / RATE * 3 + 10,
        interval=0.2,
        message=f"the redrive at {RATE}/s to finish",
    )
    replayed = Delivery.objects.filter(generation=1)
    assert sorted(replayed.values_list("event_id", flat=True)) == reservations
    times = sorted(t.timestamp() for t in replayed.values_list("created_at", flat=True))
    rate = measured_rate(times)
    print(f"redrive all: {rate:.2f}/s at {RATE}/s")
    assert abs(rate / RATE - 1) <= 0.10, f"{rate:.2f}/s at {RATE}/s"
    wait_until(
        lambda: replayed.filter(status=Delivery.Status.SUCCEEDED).count() == size,
        timeout=60,
        interval=0.2,
        message="every redriven delivery to succeed",
    )
    assert ProcessedEvent.objects.filter(subscriber=PROJECTION, generation=1).count() == size
    assert before < timezone.now()


def test_redrive_dead_requeues_the_windows_dead_letters_at_its_rate_with_the_default_relay(
    operator,
    start_worker,
    default_relay,  # noqa: F811
):
    start_worker(concurrency=2)
    outside = make_dead_letters(3, user_id="user-early")
    dead = make_dead_letters(100)
    since = Event.objects.filter(pk__gt=max(Delivery.objects.filter(pk__in=outside).values_list(
        "event_id", flat=True
    ))).order_by("id").first().recorded_at.isoformat()  # fmt: skip
    until = (timezone.now() + timedelta(seconds=1)).isoformat()

    redrive(
        "--subscriber", FAILED, "--since", since, "--until", until, "--rate", str(RATE), *AUDIT
    )  # fmt: skip
    batch = RetryBatch.objects.get()
    assert (batch.kind, batch.total) == ("retry", 100)
    assert sorted(batch.delivery_ids) == sorted(dead)
    wait_until(
        lambda: RetryBatch.objects.get(pk=batch.pk).finished_at,
        timeout=100 / RATE * 3 + 10,
        interval=0.2,
        message="the redrive to finish",
    )
    rate = measured_rate(requeue_times(batch))
    print(f"redrive dead: {rate:.2f}/s at {RATE}/s")
    assert abs(rate / RATE - 1) <= 0.10, f"{rate:.2f}/s at {RATE}/s"
    assert set(Delivery.objects.filter(pk__in=outside).values_list("status", flat=True)) == {"dead"}


def test_redrive_refuses_bad_input_by_option_and_writes_nothing(operator):
    make_dead_letters(2)
    since = (timezone.now() - timedelta(hours=1)).isoformat()
    until = (timezone.now() + timedelta(hours=1)).isoformat()
    cases = [
        (["--subscriber", FAILED, "--since", "yesterday", "--until", until], "--since: "),
        (["--subscriber", FAILED, "--since", since, "--until", "soon"], "--until: "),
        (["--subscriber", FAILED, "--since", until, "--until", since], "--until: must be after"),
        (["--subscriber", FAILED, "--since", since, "--until", until, "--status", "x"],
         "--status: must be one of dead, all"),
        (["--subscriber", "nope.nothing", "--since", since, "--until", until], "--subscriber: "),
        (["--subscriber", FAILED, "--since", since, "--until", until, "--status", "all"],
         f"--subscriber: {FAILED} is not replayable"),
        (["--subscriber", FAILED, "--since", since, "--until", until, "--rate", "0"], "--rate: "),
        (["--subscriber", FAILED, "--since", "0001-01-01T00:00:00+05:00", "--until", until],
         "--since: 0001-01-01T00:00:00+05:00 is out of range"),
        (["--subscriber", FAILED, "--since", since, "--until", "9999-12-31T23:59:59-05:00"],
         "--until: 9999-12-31T23:59:59-05:00 is out of range"),
    ]  # fmt: skip
    # Every real redrive is audited with who and why; a dry run needs neither, but its
    # --rate is checked all the same.
    window_args = ["--subscriber", FAILED, "--since", since, "--until", until]
    unaudited = [
        ([*window_args, "--reason", "x"], "--user is required"),
        ([*window_args, "--user", "op"], "--reason is required"),
        ([*window_args, "--rate", "0", "--dry-run"], "--rate: "),
    ]
    for args, message in cases:
        with pytest.raises(CommandError) as refused:
            redrive(*args, *AUDIT)
        assert message in str(refused.value), (args, str(refused.value))
    for args, message in unaudited:
        with pytest.raises(CommandError) as refused:
            redrive(*args)
        assert message in str(refused.value), (args, str(refused.value))
    assert not RetryBatch.objects.exists()


def test_a_redrive_dry_run_lists_what_it_would_do_and_writes_nothing():
    dead = make_dead_letters(3)
    since = (timezone.now() - timedelta(hours=1)).isoformat()
    until = (timezone.now() + timedelta(hours=1)).isoformat()
    out = redrive("--subscriber", FAILED, "--since", since, "--until", until, "--dry-run")
    assert [int(line.split()[-1]) for line in out.splitlines() if "would requeue" in line] == dead
    assert "nothing written" in out
    assert not RetryBatch.objects.exists()
    assert set(Delivery.objects.filter(pk__in=dead).values_list("status", flat=True)) == {"dead"}
