"""What each database metric counts, from rows made to order (R13), and the text format."""

from __future__ import annotations

import sys
from datetime import datetime, timedelta

import pytest
from django.utils import timezone

from eventhub.metrics import attempt_tally, readings
from eventhub.metrics.exposition import render
from eventhub.metrics.families import Family, HistogramSample, Sample
from eventhub.models import Attempt, Delivery, Event
from tests.unit.rows import stored_event

pytestmark = pytest.mark.django_db

AT_MOST_ONCE = "orders.count_outcomes"
MAIL = "notifications.order_confirmation"
NOW = timezone.now()


@pytest.fixture(autouse=True)
def _now(monkeypatch: pytest.MonkeyPatch) -> None:
    """``NOW`` is each test's own start. Taken once at import, it aged with the suite: on a
    slow machine these tests ran 60-90 s after collection, and an outbox lag of 30 s read 90 s
    while attempts fell out of the readings' recent window."""
    monkeypatch.setattr(sys.modules[__name__], "NOW", timezone.now())


def delivery(subscriber: str, status: str, **fields: object) -> Delivery:
    return Delivery.objects.create(
        event=stored_event(correlation_id="metrics"),
        subscriber=subscriber,
        queue=fields.pop("queue", "orders"),
        guarantee="at-most-once" if subscriber == AT_MOST_ONCE else "effectively-once",
        status=status,
        attempts=fields.pop("attempts", 1),
        max_attempts=5,
        next_attempt_at=fields.pop("next_attempt_at", NOW),
        **fields,
    )


def attempt(of: Delivery, number: int, outcome: str, started: datetime, seconds: float) -> None:
    Attempt.objects.create(
        delivery=of,
        number=number,
        worker="test:1",
        started_at=started,
        finished_at=started + timedelta(seconds=seconds),
        outcome=outcome,
    )


def by_labels(family: Family) -> dict[tuple, float]:
    return {s.labels: s.value for s in family.samples if isinstance(s, Sample) and s.value}


def test_delivery_outcomes_count_how_deliveries_ended_and_dead_letterings_never_drop():
    failed = delivery(AT_MOST_ONCE, Delivery.Status.FAILED)
    attempt(failed, 1, Attempt.Outcome.FAILED, NOW, 0.1)
    lost = delivery(AT_MOST_ONCE, Delivery.Status.FAILED)
    attempt(lost, 1, Attempt.Outcome.LOST, NOW, 70)
    delivery(MAIL, Delivery.Status.SUCCEEDED)
    delivery(MAIL, Delivery.Status.DISCARDED)
    delivery(MAIL, Delivery.Status.DEAD)
    delivery(MAIL, Delivery.Status.RESOLVED)  # replaced by an operator's correction
    # Four dead-letterings of MAIL: the discarded one, the dead one, the resolved one, one
    # retried since.
    for _ in range(4):
        stored_event("event.processing.failed", {"subscriber": MAIL}, correlation_id="metrics")
    delivery(MAIL, Delivery.Status.PENDING, retried_at=NOW)

    outcomes = by_labels(readings.deliveries_by_outcome())
    assert outcomes == {
        (("subscriber", AT_MOST_ONCE), ("outcome", "failed")): 1,
        (("subscriber", AT_MOST_ONCE), ("outcome", "lost")): 1,
        (("subscriber", MAIL), ("outcome", "succeeded")): 1,
        (("subscriber", MAIL), ("outcome", "discarded")): 1,
        (("subscriber", MAIL), ("outcome", "resolved")): 1,
        (("subscriber", MAIL), ("outcome", "dead")): 4,
    }
    assert by_labels(readings.dead_letters()) == {(("subscriber", MAIL),): 1}
    assert by_labels(readings.attempts_by_outcome()) == {
        (("subscriber", AT_MOST_ONCE), ("outcome", "failed")): 1,
        (("subscriber", AT_MOST_ONCE), ("outcome", "lost")): 1,
    }


def test_histograms_put_each_attempt_in_its_buckets_and_leave_lost_attempts_out():
    mail = delivery(MAIL, Delivery.Status.SUCCEEDED, queue="notifications", attempts=4)
    for number, seconds in enumerate([0.003, 0.2, 3.0], start=1):
        attempt(mail, number, Attempt.Outcome.FAILED, NOW, seconds)
    attempt(mail, 4, Attempt.Outcome.LOST, NOW, 70)
    Event.objects.filter(pk=mail.event_id).update(recorded_at=NOW - timedelta(seconds=2))

    [handler] = [
        s
        for s in readings.handler_durations().samples
        if isinstance(s, HistogramSample) and s.labels == (("subscriber", MAIL),)
    ]
    buckets = dict(handler.buckets)
    assert (buckets[0.005], buckets[0.25], buckets[2.5], buckets[5.0]) == (1, 2, 2, 3)
    assert handler.count == 3 and handler.sum == pytest.approx(3.203)

    [wait] = [
        s
        for s in readings.queue_waits().samples
        if isinstance(s, HistogramSample) and s.labels == (("queue", "notifications"),)
    ]
    assert wait.count == 1  # first attempts only
    assert (dict(wait.buckets)[1.0], dict(wait.buckets)[2.5]) == (0, 1)
    assert wait.sum == pytest.approx(2.0, abs=0.01)


def test_outbox_lag_is_the_oldest_due_undispatched_delivery_and_in_flight_what_the_broker_has():
    assert readings.outbox_lag().samples == [Sample((), 0.0)]
    delivery(MAIL, Delivery.Status.PENDING, next_attempt_at=NOW - timedelta(seconds=30))
    delivery(MAIL, Delivery.Status.RETRYING, next_attempt_at=NOW + timedelta(hours=1))
    delivery(MAIL, Delivery.Status.PENDING, queue="notifications", dispatched_at=NOW)
    delivery(MAIL, Delivery.Status.RUNNING, queue="notifications", dispatched_at=NOW)
    delivery(MAIL, Delivery.Status.SUCCEEDED, queue="notifications", dispatched_at=NOW)

    [lag] = readings.outbox_lag().samples
    assert 30 <= lag.value < 60  # type: ignore[union-attr]
    assert by_labels(readings.deliveries_in_flight()) == {(("queue", "notifications"),): 2}


def test_the_text_format_escapes_label_values_and_spells_out_histograms():
    text = render(
        [
            Family("x_total", "counter", "A help\\text", [Sample((("k", 'a"b\\c\nd'),), 2.0)]),
            Family(
                "y_seconds",
                "histogram",
                "Y",
                [HistogramSample((("q", "o"),), ((0.5, 1), (1.0, 2)), 3, 4.25)],
            ),
        ]
    )
    assert text.splitlines() == [
        "# HELP x_total A help\\\\text",
        "# TYPE x_total counter",
        'x_total{k="a\\"b\\\\c\\nd"} 2',
        "# HELP y_seconds Y",
        "# TYPE y_seconds histogram",
        'y_seconds_bucket{q="o",le="0.5"} 1',
        'y_seconds_bucket{q="o",le="1"} 2',
        'y_seconds_bucket{q="o",le="+Inf"} 3',
        'y_seconds_sum{q="o"} 4.25',
        'y_seconds_count{q="o"} 3',
    ]


def test_the_attempt_tally_settles_finished_attempts_and_recounts_only_the_tail(monkeypatch):
    """Incremental counting gives the full count: below the oldest running attempt only."""
    monkeypatch.setattr(attempt_tally, "SETTLE_SECONDS", 0.0)
    monkeypatch.setattr(attempt_tally, "_settled", attempt_tally._Settled())
    mail = delivery(MAIL, Delivery.Status.RUNNING, queue="notifications", attempts=4)
    attempt(mail, 1, Attempt.Outcome.FAILED, NOW, 0.1)
    running = Attempt.objects.create(
        delivery=mail, number=2, worker="test:1", started_at=NOW, outcome=Attempt.Outcome.RUNNING
    )
    attempt(mail, 3, Attempt.Outcome.FAILED, NOW, 0.1)

    tally = attempt_tally.attempt_tally()
    assert tally.attempts == {(MAIL, "failed"): 2}
    assert attempt_tally._settled.watermark == running.pk - 1  # held below the running one

    Attempt.objects.filter(pk=running.pk).update(
        outcome=Attempt.Outcome.SUCCEEDED, finished_at=NOW + timedelta(seconds=1)
    )
    attempt(mail, 4, Attempt.Outcome.LOST, NOW, 70)
    tally, full = attempt_tally.attempt_tally(), attempt_tally.count_range(0, None)
    assert (tally.attempts, tally.waits) == (full.attempts, full.waits)
    [(name, durations)] = tally.durations.items()
    assert durations.cumulative == full.durations[name].cumulative
    assert durations.total == pytest.approx(full.durations[name].total) == 1.2
    assert tally.attempts == {(MAIL, "failed"): 2, (MAIL, "succeeded"): 1, (MAIL, "lost"): 1}
    assert tally.durations[MAIL].count == 3 and tally.waits["notifications"].count == 1
    assert attempt_tally._settled.watermark == Attempt.objects.latest("pk").pk

    Attempt.objects.all().delete()  # as between tests: the settled tally must not survive it
    assert attempt_tally.attempt_tally().attempts == {}
