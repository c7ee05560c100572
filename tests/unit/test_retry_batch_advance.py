"""``retry_batches.advance``, one relay pass over the running retry batches, on a clock of its
own: what each pass requeues, the pace it keeps, the burst cap, the end of a batch, and the
compare-and-set that keeps two relays from requeueing one slice twice.

Plain ``django_db`` tests: nothing commits, so nothing is dispatched to a broker.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.contrib.admin.models import LogEntry
from django.contrib.auth.models import User

from eventhub.bus import retry_batches
from eventhub.bus.retry_batches import (
    SLICE_MOST,
    Advanced,
    advance,
    allowance,
    retried_message,
)
from eventhub.models import Delivery, RetryBatch
from tests.unit.rows import stored_event

pytestmark = pytest.mark.django_db

T0 = datetime(2026, 1, 1, 12, 0, 0, tzinfo=UTC)
MAIL = "notifications.order_confirmation"  # at most 5 attempts


class Clock:
    """Stands in for ``django.utils.timezone`` in ``retry_batches``."""

    def __init__(self) -> None:
        self.at = T0

    def now(self) -> datetime:
        return self.at

    def set(self, seconds: float) -> None:
        self.at = T0 + timedelta(seconds=seconds)


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    clock = Clock()
    monkeypatch.setattr(retry_batches, "timezone", clock)
    return clock


def dead_letters(count: int) -> list[int]:
    ids = []
    for _ in range(count):
        dead = Delivery.objects.create(
            event=stored_event(correlation_id="batch"),
            subscriber=MAIL,
            queue="notifications",
            guarantee="effectively-once",
            status=Delivery.Status.DEAD,
            attempts=5,
            max_attempts=5,
            next_attempt_at=T0,
            dead_at=T0,
        )
        ids.append(dead.pk)
    return ids


def batch(ids: list[int], rate: int, **fields: object) -> RetryBatch:
    return RetryBatch.objects.create(
        delivery_ids=ids, total=len(ids), rate_per_second=rate, **fields
    )


def requeued(ids: list[int]) -> list[int]:
    """Those of ``ids`` back in line, in batch order."""
    back = set(
        Delivery.objects.filter(pk__in=ids, status=Delivery.Status.PENDING).values_list(
            "pk", flat=True
        )
    )
    return [pk for pk in ids if pk in back]


def test_the_first_pass_takes_a_batch_up_with_its_first_dead_letter(clock):
    ids = dead_letters(10)
    retry = batch(ids, rate=10)

    assert advance() == Advanced(requeued=1, next_due_in=pytest.approx(0.1))

    retry.refresh_from_db()
    assert (retry.done, retry.requeued, retry.finished_at) == (1, 1, None)
    assert retry.paced_from == T0 and retry.advanced_at == T0
    assert requeued(ids) == ids[:1]
    first = Delivery.objects.get(pk=ids[0])
    assert first.retried_at == T0 and first.next_attempt_at == T0
    assert first.max_attempts == 5 + 5  # a fresh budget; the attempt count goes on
    assert first.dead_at is None and first.dispatched_at is None


def test_each_pass_requeues_what_came_due_at_the_rate_since_the_pace_started(clock):
    ids = dead_letters(10)
    retry = batch(ids, rate=20)
    advance()  # T0: the first

    clock.set(0.22)  # dead letters 2..5 are due at 0.05, 0.1, 0.15, 0.2 s
    assert advance() == Advanced(requeued=4, next_due_in=pytest.approx(0.03))
    assert requeued(ids) == ids[:5]

    assert advance() == Advanced(requeued=0, next_due_in=pytest.approx(0.03))  # same instant

    clock.set(0.25)
    assert advance().requeued == 1
    retry.refresh_from_db()
    assert (retry.done, retry.requeued, retry.paced_from) == (6, 6, T0)
    assert requeued(ids) == ids[:6]


def test_a_late_pass_catches_up_one_second_and_moves_the_pace_up_for_the_rest(clock):
    ids = dead_letters(100)
    retry = batch(ids, rate=20)  # the catch-up: 20/s x 1 s = 20
    advance()

    clock.set(10.0)  # 200 would be due: the relay was away
    assert advance().requeued == 20
    retry.refresh_from_db()
    assert retry.done == 21
    assert retry.paced_from == T0 + timedelta(seconds=10 - 20 / 20)  # as if on time since

    clock.set(10.1)  # back at the rate: 2 more at 20/s in 0.1 s
    assert advance().requeued == 2
    assert len(requeued(ids)) == 23


def test_the_last_slice_finishes_the_batch_and_a_finished_or_cancelled_batch_is_left_alone(
    clock,
):
    ids = dead_letters(3)
    retry = batch(ids, rate=100)
    stopped_ids = dead_letters(2)
    stopped = batch(stopped_ids, rate=100, finished_at=T0, cancelled_at=T0)
    advance()

    clock.set(1.0)
    assert advance() == Advanced(requeued=2, next_due_in=None)
    retry.refresh_from_db()
    assert (retry.done, retry.requeued) == (3, 3)
    assert retry.finished_at == T0 + timedelta(seconds=1)

    assert advance() == Advanced(requeued=0, next_due_in=None)
    stopped.refresh_from_db()
    assert (stopped.done, stopped.requeued, stopped.paced_from) == (0, 0, None)
    assert requeued(stopped_ids) == []


def test_a_dead_letter_no_longer_dead_counts_as_done_but_not_as_requeued(clock):
    ids = dead_letters(3)
    Delivery.objects.filter(pk=ids[1]).update(status=Delivery.Status.DISCARDED)
    retry = batch(ids, rate=100)
    advance()

    clock.set(1.0)
    assert advance().requeued == 1
    retry.refresh_from_db()
    assert (retry.done, retry.requeued) == (3, 2)
    assert Delivery.objects.get(pk=ids[1]).status == Delivery.Status.DISCARDED


def test_a_pass_sums_over_the_batches_and_comes_back_for_the_soonest_due(clock):
    slow = batch(dead_letters(5), rate=10)
    fast = batch(dead_letters(5), rate=50)
    assert advance() == Advanced(requeued=2, next_due_in=pytest.approx(1 / 50))
    assert [b.done for b in RetryBatch.objects.filter(pk__in=[slow.pk, fast.pk])] == [1, 1]


def test_each_requeue_is_audited_for_whoever_asked_for_the_batch(clock):
    operator = User.objects.create_user("op", is_staff=True)
    asked = batch(dead_letters(2), rate=100, requested_by=operator, reason="incident 7")
    batch(dead_letters(2), rate=100)  # the relay's own: no one to audit for
    advance()
    clock.set(1.0)
    advance()

    entries = LogEntry.objects.filter(change_message=retried_message(asked))
    assert sorted(int(e.object_id) for e in entries) == sorted(asked.delivery_ids)
    assert {e.user_id for e in entries} == {operator.pk}
    assert LogEntry.objects.count() == 2


def test_a_relay_that_read_the_batch_before_another_relay_advanced_it_requeues_nothing(clock):
    ids = dead_letters(10)
    retry = batch(ids, rate=10)
    stale = RetryBatch.objects.get(pk=retry.pk)  # read by a second relay, done = 0
    advance()  # the first relay takes dead letter 1

    allowed = allowance(rate=10, done=0, total=10, paced_from=None, now=T0)
    assert retry_batches._requeue_slice(stale, allowed, T0) == 0
    retry.refresh_from_db()
    assert (retry.done, retry.requeued) == (1, 1)
    assert requeued(ids) == ids[:1]


def test_a_replay_slice_fits_one_message_whatever_the_rate() -> None:
    """A replay keeps its flow's order within a slice only if the slice is one message (a
    worker runs it in order); at 1000/s a second late, a pass would take 1000, twenty
    messages in parallel."""
    from eventhub.bus.dispatch import MESSAGE_BATCH

    wide = allowance(rate=1000, done=0, total=5000, paced_from=T0, now=T0 + timedelta(seconds=1))
    assert wide.count == 1000
    capped = allowance(
        rate=1000,
        done=0,
        total=5000,
        paced_from=T0,
        now=T0 + timedelta(seconds=1),
        most=MESSAGE_BATCH,
    )
    assert capped.count == MESSAGE_BATCH
    assert capped.next_due_in == 0.0  # behind: the relay comes back at once


def test_a_late_pass_of_a_fast_batch_requeues_one_capped_slice_and_comes_back_at_once(clock):
    """A second late at 1,000/s owes 1,000: one pass takes ``SLICE_MOST`` (one transaction on
    SQLite's write lock) and keeps the rest owed."""
    ids = dead_letters(SLICE_MOST * 3)
    retry = batch(ids, rate=1000)
    advance()

    clock.set(1.0)
    assert advance() == Advanced(requeued=SLICE_MOST, next_due_in=0.0)
    retry.refresh_from_db()
    assert retry.paced_from == T0  # nothing forgotten: the next pass goes on from here
    assert advance().requeued == SLICE_MOST
