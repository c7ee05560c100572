"""Replaying a flow by correlation ID with a real worker and relay (issue 14.2).

A replay sends the flow's events, in recorded order, to replayable subscribers as a new
delivery generation: the saga's projection rebuilds from them, a non-replayable subscriber
is refused by name with nothing written, a dry run sends nothing, and an effectively-once
subscriber applies each replay once (a duplicate message of it is still a no-op).
"""

from __future__ import annotations

import io
from typing import Any

import pytest
from django.contrib.admin.models import LogEntry
from django.contrib.auth.models import User
from django.core.management import CommandError, call_command

from eventhub.bus import subscribers
from eventhub.models import Attempt, Delivery, Event, FaultRule, ProcessedEvent, RetryBatch
from orders.models import Order, SagaStep
from orders.payments.models import Payment
from tests.conftest import wait_until
from tests.integration.flows import place_order, wait_for_flow
from tests.integration.saga import HAPPY, OUT_OF_STOCK, PAYMENT_DECLINED, SHIPMENT_REFUSED

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

PROJECTION = "orders.record_saga_step"


def steps(order_ids: list[str]) -> list[tuple[Any, ...]]:
    """The projection's rows, as they read (not their primary keys)."""
    return list(
        SagaStep.objects.filter(order_id__in=order_ids)
        .order_by("order_id", "position")
        .values_list(
            "order_id", "name", "position", "done_at", "failed_at", "compensated_at", "detail"
        )
    )


AUDIT = ("--user", "op", "--reason", "rebuild the saga steps")
"""Who and why: required of every replay that is not a dry run."""


@pytest.fixture
def operator() -> User:
    return User.objects.create_user("op", is_staff=True)


def replay(correlation_id: str, *args: str) -> str:
    out = io.StringIO()
    call_command("eventhub_replay", "--correlation-id", correlation_id, *args, stdout=out)
    return out.getvalue()


def wait_for_batches() -> None:
    """Every batch finished and every delivery it made has finished too."""

    def settled() -> bool:
        if RetryBatch.objects.filter(finished_at__isnull=True).exists():
            return False
        made = [pk for b in RetryBatch.objects.all() for pk in b.delivery_ids]
        return not Delivery.objects.filter(
            pk__in=made, status__in=["pending", "running", "retrying"]
        ).exists()

    wait_until(settled, timeout=60, interval=0.1, message="the replay to finish")


def test_only_projections_are_replayable():
    replayable = {s.name for s in subscribers.all_subscribers() if s.replayable}
    assert replayable == {PROJECTION}


def test_a_replayed_saga_rebuilds_its_projection(worker, relay, operator):
    orders = [place_order(b) for b in (HAPPY, PAYMENT_DECLINED, SHIPMENT_REFUSED, OUT_OF_STOCK)]
    assert [wait_for_flow(o).status for o in orders] == [
        "confirmed",
        "cancelled",
        "cancelled",
        "rejected",
    ]
    ids = [o["orderId"] for o in orders]
    before = steps(ids)
    assert len(before) == 12 and all(row[3] or row[4] or row[5] for row in before[:1])
    events_before = Event.objects.count()
    payments_before = list(Payment.objects.order_by("pk").values_list("order_id", "status"))
    originals = set(Delivery.objects.values_list("pk", "status", "attempts"))

    SagaStep.objects.filter(order_id__in=ids).delete()
    for order in orders:
        out = replay(order["correlationId"], *AUDIT)
        assert "replay batch" in out
    wait_for_batches()

    assert steps(ids) == before
    # Only the projection ran again, as generation 1, once per saga event it receives.
    replayed = Delivery.objects.filter(generation__gt=0)
    assert set(replayed.values_list("subscriber", "generation", "status", "attempts")) == {
        (PROJECTION, 1, "succeeded", 1)
    }
    saga_events = Event.objects.filter(
        correlation_id__in=[o["correlationId"] for o in orders],
        event_type__in=subscribers.get(PROJECTION).event_types,
    )
    assert replayed.count() == saga_events.count()
    # In recorded order: each flow's replays were made in the order of its events.
    for order in orders:
        made = replayed.filter(event__correlation_id=order["correlationId"]).order_by("pk")
        positions = list(made.values_list("event_id", flat=True))
        assert positions == sorted(positions)
    # Nothing else happened: no new event, no payment, the original deliveries untouched.
    assert Event.objects.count() == events_before
    assert list(Payment.objects.order_by("pk").values_list("order_id", "status")) == (
        payments_before
    )
    assert originals <= set(Delivery.objects.values_list("pk", "status", "attempts"))
    assert list(Order.objects.filter(pk__in=ids).values_list("status", flat=True))


def test_a_replay_to_a_subscriber_that_is_not_replayable_is_refused_by_name(
    worker, relay, operator
):
    order = place_order(HAPPY)
    wait_for_flow(order)
    deliveries = Delivery.objects.count()
    with pytest.raises(CommandError, match="payments.authorize_payment is not replayable"):
        replay(
            order["correlationId"],
            "--subscriber",
            PROJECTION,
            "--subscriber",
            "payments.authorize_payment",
            *AUDIT,
        )
    with pytest.raises(CommandError, match="subscriber: no subscriber named 'nope.nothing'"):
        replay(order["correlationId"], "--subscriber", "nope.nothing", *AUDIT)
    with pytest.raises(CommandError, match="correlation-id: no events recorded"):
        replay("no-such-flow", *AUDIT)
    assert not RetryBatch.objects.exists()
    assert Delivery.objects.count() == deliveries
    assert not LogEntry.objects.exists()


def test_a_replay_without_who_and_why_or_with_a_bad_rate_is_refused_by_option(operator):
    """Every real replay is audited (the LogEntry needs a user, the batch a reason); a dry
    run needs neither, but its --rate is checked all the same (before the flow is read)."""
    cases = [
        (["--reason", "x"], "--user is required"),
        (["--user", "op"], "--reason is required"),
        (["--user", "op", "--reason", "  "], "--reason is required"),
        (["--user", "nobody", "--reason", "x"], "--user: no user named 'nobody'"),
        (["--rate", "0", "--dry-run"], "--rate: "),
        (["--rate", "0", *AUDIT], "--rate: "),
    ]
    for args, message in cases:
        with pytest.raises(CommandError) as refused:
            replay("any-flow", *args)
        assert message in str(refused.value), (args, str(refused.value))
    assert not RetryBatch.objects.exists() and not LogEntry.objects.exists()


def test_a_dry_run_prints_what_would_be_sent_and_sends_nothing(worker, relay):
    order = place_order(HAPPY)
    wait_for_flow(order)
    deliveries = Delivery.objects.count()
    out = replay(order["correlationId"], "--dry-run")
    lines = [line for line in out.splitlines() if line.startswith("would send")]
    saga_events = Event.objects.filter(
        correlation_id=order["correlationId"],
        event_type__in=subscribers.get(PROJECTION).event_types,
    ).order_by("id")
    assert [line.split()[3] for line in lines] == [e.event_type for e in saga_events]
    assert all(f"-> {PROJECTION} (generation 1)" in line for line in lines)
    assert "nothing written" in out
    assert not RetryBatch.objects.exists() and Delivery.objects.count() == deliveries


def test_each_replay_applies_once_to_an_effectively_once_subscriber(
    start_worker, relay, settings, operator
):
    start_worker(concurrency=2)
    order = place_order(HAPPY)
    wait_for_flow(order)
    # Every message is sent twice from now on (the relay runs in this process): the
    # duplicate of each replay delivery must find its work done.
    settings.EVENTHUB = {**settings.EVENTHUB, "CHAOS_DUPLICATE_DISPATCH": True}
    for _ in range(2):
        replay(order["correlationId"], "--subscriber", PROJECTION, "--user", "op", "--reason", "x")
        wait_for_batches()

    saga_events = Event.objects.filter(
        correlation_id=order["correlationId"],
        event_type__in=subscribers.get(PROJECTION).event_types,
    )
    applied = ProcessedEvent.objects.filter(subscriber=PROJECTION, event_id__in=[
        e.event_id for e in saga_events
    ])  # fmt: skip
    # Per event: the original and two replays, each applied exactly once.
    assert sorted(applied.values_list("generation", flat=True)) == sorted(
        [0, 1, 2] * saga_events.count()
    )
    replayed = Delivery.objects.filter(generation__gt=0)
    assert set(replayed.values_list("status", "attempts")) == {("succeeded", 1)}
    assert replayed.count() == 2 * saga_events.count()
    # Audited: the request and each delivery made, in the operator's name.
    assert LogEntry.objects.filter(user=operator, change_message__startswith="Started").count() == 2
    assert (
        LogEntry.objects.filter(user=operator, change_message__startswith="Replayed").count()
        == replayed.count()
    )


def test_a_replay_runs_a_flows_events_one_after_another_in_recorded_order(
    start_worker, relay, operator
):
    """With the projection slowed down (1 s a delivery) and two worker processes, a replay
    at 20/s would run the flow's three step events at once; each waits for the one before."""
    start_worker(concurrency=2)
    order = place_order(HAPPY)
    wait_for_flow(order)
    FaultRule.objects.create(subscriber=PROJECTION, enabled=True, latency_ms=1000)
    replay(order["correlationId"], "--rate", "20", "--user", "op", "--reason", "slow")
    wait_for_batches()

    attempts = list(
        Attempt.objects.filter(delivery__generation=1)
        .order_by("delivery__event_id")
        .values_list("delivery__event__event_type", "started_at", "finished_at")
    )
    assert [a[0] for a in attempts] == [
        "inventory.updated",
        "payment.authorized",
        "shipment.created",
    ]
    for (_, _, finished), (_, started, _) in zip(attempts, attempts[1:], strict=False):
        assert started >= finished
