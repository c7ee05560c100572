"""One transaction per successful attempt, and the start counter that bounds attempts (issue 11).

A successful attempt commits its claim, attempt record, idempotency record and the handler's
writes together; a process that dies mid-handler leaves only its count of starts in Redis.
These tests call the delivery code in this process against the real Redis and database, and
play a crash by bumping the counter the way a start that never committed would.
"""

from __future__ import annotations

import dataclasses
import logging
from typing import Any

import pytest
import redis

from eventhub.bus import Received, starts, subscribers
from eventhub.bus.delivery import LOST_ERROR, execute
from eventhub.models import Attempt, Delivery, Event, FaultRule, ProcessedEvent
from inventory.models import Reservation
from tests.integration.flows import SEED_ORDER, place_order, stock

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

RESERVE = "inventory.reserve_stock"  # effectively-once: its writes show whether it ran
WORKER = "testhost:4242"


@pytest.fixture
def counter(redis_server: Any) -> redis.Redis:
    redis_server.flush()
    return redis.Redis.from_url(redis_server.url)


def _reservation() -> Delivery:
    order = place_order(SEED_ORDER)  # dispatched on commit: dispatch_seq 1, no worker runs
    return Delivery.objects.select_related("event").get(
        event__correlation_id=order["correlationId"], subscriber=RESERVE
    )


def _run(delivery: Delivery) -> str:
    return execute(
        delivery_id=delivery.pk, dispatch_seq=delivery.dispatch_seq, worker=WORKER,
        subscriber=delivery.subscriber,
    )  # fmt: skip


def _outcomes(delivery: Delivery) -> list[tuple[int, str, str]]:
    rows = Attempt.objects.filter(delivery=delivery).order_by("number")
    return list(rows.values_list("number", "outcome", "worker"))


def test_a_success_commits_one_attempt_and_counts_one_start(counter: redis.Redis) -> None:
    delivery = _reservation()
    assert _run(delivery) == "succeeded"
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts) == (Delivery.Status.SUCCEEDED, 1)
    assert _outcomes(delivery) == [(1, Attempt.Outcome.SUCCEEDED, WORKER)]
    attempt = Attempt.objects.get(delivery=delivery)
    assert attempt.duration_ms is not None and attempt.duration_ms >= 0
    assert starts.started(delivery) == 1
    assert stock("PROD-001") == 98
    # The same message again (a duplicate, or a redelivery after the ack was lost): a no-op.
    assert _run(delivery) == "skipped"
    assert starts.started(delivery) == 1
    assert stock("PROD-001") == 98


def test_a_start_that_never_recorded_an_outcome_becomes_a_lost_attempt(
    counter: redis.Redis,
) -> None:
    delivery = _reservation()
    counter.incr(starts.key(delivery))  # a start whose process died: nothing in the database
    assert _run(delivery) == "succeeded"
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts) == (Delivery.Status.SUCCEEDED, 2)
    assert _outcomes(delivery) == [
        (1, Attempt.Outcome.LOST, "unknown"),
        (2, Attempt.Outcome.SUCCEEDED, WORKER),
    ]
    assert Attempt.objects.get(delivery=delivery, number=1).error == LOST_ERROR
    assert Reservation.objects.filter(order_id=delivery.event.aggregate_id).count() == 2


def test_starts_that_used_up_the_max_attempts_dead_letter_without_running(
    counter: redis.Redis,
) -> None:
    delivery = _reservation()
    counter.set(starts.key(delivery), delivery.max_attempts)  # every start died
    assert _run(delivery) == Delivery.Status.DEAD
    delivery.refresh_from_db()
    assert delivery.status == Delivery.Status.DEAD
    assert delivery.attempts == delivery.max_attempts
    assert _outcomes(delivery) == [
        (n, Attempt.Outcome.LOST, "unknown") for n in range(1, delivery.max_attempts + 1)
    ]
    assert stock("PROD-001") == 100  # the handler never ran
    assert not ProcessedEvent.objects.filter(subscriber=RESERVE).exists()
    failed = Event.objects.get(event_type="event.processing.failed")
    assert failed.data["deliveryId"] == delivery.pk
    assert _run(delivery) == "skipped"  # and it never runs again


def test_a_failed_attempt_is_recorded_after_its_rollback(
    counter: redis.Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    delivery = _reservation()
    real = subscribers.get(RESERVE)
    assert real is not None

    def reserve_then_fail(event: Received) -> None:
        real.handler(event)  # the stock is reserved...
        raise RuntimeError("the handler failed after its writes")

    monkeypatch.setitem(
        subscribers._REGISTRY, RESERVE, dataclasses.replace(real, handler=reserve_then_fail)
    )
    assert _run(delivery) == Delivery.Status.RETRYING
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts) == (Delivery.Status.RETRYING, 1)
    attempt = Attempt.objects.get(delivery=delivery)
    assert (attempt.number, attempt.outcome, attempt.worker) == (1, "failed", WORKER)
    assert attempt.error == "RuntimeError: the handler failed after its writes"
    assert "reserve_then_fail" in attempt.traceback and attempt.duration_ms is not None
    # The handler's writes and the idempotency record rolled back with the claim.
    assert not ProcessedEvent.objects.filter(subscriber=RESERVE).exists()
    assert stock("PROD-001") == 100
    assert starts.started(delivery) == 1


def test_a_write_refused_at_commit_is_recorded_as_the_attempt_s_failure(
    counter: redis.Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Foreign keys are checked at commit (deferred): the failure comes after the handler."""
    delivery = _reservation()
    real = subscribers.get(RESERVE)
    assert real is not None

    def dangling_write(event: Received) -> None:
        Attempt.objects.create(
            delivery_id=10**9, number=1, worker="x", started_at=delivery.created_at
        )

    monkeypatch.setitem(
        subscribers._REGISTRY, RESERVE, dataclasses.replace(real, handler=dangling_write)
    )
    assert _run(delivery) == Delivery.Status.RETRYING
    attempt = Attempt.objects.get(delivery=delivery)
    assert (attempt.outcome, attempt.worker) == (Attempt.Outcome.FAILED, WORKER)
    assert attempt.error.startswith("IntegrityError")
    assert not Attempt.objects.filter(delivery_id=10**9).exists()


def test_a_subscriber_with_a_fault_switch_on_takes_the_leased_path(counter: redis.Redis) -> None:
    """Its injected latency must not sleep inside a transaction (SQLite's one write lock)."""
    delivery = _reservation()
    FaultRule.objects.create(subscriber=RESERVE, enabled=True, mode=FaultRule.Mode.ALWAYS)
    assert _run(delivery) == Delivery.Status.RETRYING
    attempt = Attempt.objects.get(delivery=delivery)
    assert (attempt.outcome, attempt.worker) == (Attempt.Outcome.FAILED, WORKER)
    assert starts.started(delivery) == 0  # the claim committed first: nothing to count


def test_without_the_start_counter_the_claim_commits_before_the_handler(
    counter: redis.Redis, settings: Any, caplog: pytest.LogCaptureFixture
) -> None:
    settings.EVENTHUB = {**settings.EVENTHUB, "START_COUNTER_URL": "redis://127.0.0.1:1/0"}
    delivery = _reservation()
    with caplog.at_level(logging.WARNING, logger="eventhub.bus.starts"):
        assert _run(delivery) == "succeeded"
    assert "start counter unavailable" in caplog.text
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts) == (Delivery.Status.SUCCEEDED, 1)
    assert _outcomes(delivery) == [(1, Attempt.Outcome.SUCCEEDED, WORKER)]
    assert stock("PROD-001") == 98
