"""The retry batch's pace: what a relay pass may requeue, whatever the relay's interval."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from eventhub.bus.relay import BATCH_PACE_STEP_SECONDS, RelayReport, pause
from eventhub.bus.retry_batches import CATCH_UP_SECONDS, allowance

T0 = datetime(2026, 1, 1, 12, 0, 0, tzinfo=UTC)
DEFAULT_INTERVAL = 0.5  # settings.EVENTHUB["RELAY_INTERVAL_SECONDS"]


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def test_the_first_pass_requeues_one_and_starts_the_pace_then():
    first = allowance(rate=50, done=0, total=100, paced_from=None, now=at(3))
    assert first.count == 1
    assert first.paced_from == at(3)
    assert first.next_due_in == pytest.approx(1 / 50)


def test_a_pass_requeues_what_came_due_since_the_pace_started():
    # 50/s, a pass 0.2 s after the first: 10 (the old pacing granted at most 5 a pass).
    step = allowance(rate=50, done=1, total=1000, paced_from=at(0), now=at(0.2))
    assert step.count == 10
    assert step.paced_from == at(0)
    assert step.next_due_in == pytest.approx(11 / 50 - 0.2)


def test_a_slow_rate_still_gets_its_dead_letter_on_time():
    # 2/s: the old pacing rounded 2 x 0.1 s down to nothing and the batch stopped for good.
    assert allowance(rate=2, done=1, total=10, paced_from=at(0), now=at(0.5)).count == 1
    assert allowance(rate=2, done=2, total=10, paced_from=at(0), now=at(0.999)).count == 0
    assert allowance(rate=2, done=2, total=10, paced_from=at(0), now=at(1.0)).count == 1


def test_a_pass_before_the_next_is_due_requeues_nothing_and_says_when():
    early = allowance(rate=1, done=1, total=5, paced_from=at(0), now=at(0.4))
    assert early.count == 0
    assert early.next_due_in == pytest.approx(0.6)


def test_after_a_stall_a_batch_makes_up_one_second_and_then_keeps_its_rate():
    rate = 100
    stalled = allowance(rate=rate, done=10, total=10_000, paced_from=at(0), now=at(60))
    assert stalled.count == rate * CATCH_UP_SECONDS  # not the 5,990 the clock would allow
    assert stalled.paced_from > at(0)
    # The next pass, 0.1 s later, gets 0.1 s worth: the pace holds from there.
    after = allowance(
        rate=rate,
        done=10 + stalled.count,
        total=10_000,
        paced_from=stalled.paced_from,
        now=at(60.1),
    )
    assert after.count == pytest.approx(rate * 0.1, abs=1)
    assert after.paced_from == stalled.paced_from


def test_a_replay_slice_fits_one_message_and_the_relay_comes_back_for_the_rest():
    late = allowance(rate=500, done=0, total=1000, paced_from=at(0), now=at(0.5), most=50)
    assert late.count == 50
    assert late.next_due_in == 0.0  # behind: the relay comes back at once
    assert late.paced_from == at(0)  # what is owed is kept


def test_a_relay_late_by_less_than_the_catch_up_keeps_the_batch_at_its_rate():
    """A pass 0.4 s late twice a second (SQLite's write lock held by the workers): the
    pacing before this dropped what such a pass owed beyond one slice, and a batch at 200/s
    ran at 159/s in CI."""
    rate, total = 200, 1000
    done, paced_from, now, times = 0, None, 0.0, []
    while done < total:
        step = allowance(rate=rate, done=done, total=total, paced_from=paced_from, now=at(now))
        times += [now] * step.count
        done, paced_from = done + step.count, step.paced_from
        report = RelayReport(batch_due_in=step.next_due_in)
        # Late passes in the middle of the run (a late last pass delays its end, whatever
        # the pacing).
        late = 0.4 if now < 4.0 and now % 0.5 < 0.1 else 0.0
        now += 0.03 + late + pause(report, DEFAULT_INTERVAL, elapsed=0.03 + late)
    measured = (total - 1) / (times[-1] - times[0])
    assert measured == pytest.approx(rate, rel=0.05)


def test_no_second_of_a_batch_holds_more_than_its_rate_and_its_catch_up():
    """Passes every 0.1 s, and one relay stall of 3 s in the middle."""
    rate, total = 100, 1000
    done, paced_from, now, times = 0, None, 0.0, []
    while done < total:
        step = allowance(rate=rate, done=done, total=total, paced_from=paced_from, now=at(now))
        times += [now] * step.count
        done, paced_from = done + step.count, step.paced_from
        now += 3.0 if 2.0 <= now < 2.1 else 0.1
    busiest = max(sum(1 for t in times[i:] if t - s < 1.0 - 1e-9) for i, s in enumerate(times))
    assert rate * 1.5 < busiest <= rate * (1 + CATCH_UP_SECONDS) + 1


def test_a_pass_never_goes_beyond_the_batch_and_says_when_it_is_done():
    last = allowance(rate=500, done=990, total=1000, paced_from=at(0), now=at(10))
    assert last.count == 10
    assert last.next_due_in is None
    done = allowance(rate=500, done=1000, total=1000, paced_from=at(0), now=at(11))
    assert done.count == 0 and done.next_due_in is None


def test_the_relay_comes_back_when_the_next_dead_letter_is_due():
    assert pause(RelayReport(), DEFAULT_INTERVAL) == DEFAULT_INTERVAL
    assert pause(RelayReport(batch_due_in=0.3), DEFAULT_INTERVAL) == 0.3
    assert pause(RelayReport(batch_due_in=5.0), DEFAULT_INTERVAL) == DEFAULT_INTERVAL
    assert pause(RelayReport(batch_due_in=0.002), DEFAULT_INTERVAL) == BATCH_PACE_STEP_SECONDS
    # The step counts from the start of a pass: a pass that took it all goes again at once.
    assert pause(RelayReport(batch_due_in=0.002), DEFAULT_INTERVAL, elapsed=0.06) == (
        pytest.approx(BATCH_PACE_STEP_SECONDS - 0.06)
    )
    assert pause(RelayReport(batch_due_in=0.002), DEFAULT_INTERVAL, elapsed=0.3) == 0.002
    assert pause(RelayReport(), DEFAULT_INTERVAL, elapsed=0.3) == DEFAULT_INTERVAL
    # Behind (a slow pass): the next pass at once.
    assert pause(RelayReport(batch_due_in=0.0), DEFAULT_INTERVAL) == 0.0
    assert pause(RelayReport(batch_due_in=-0.2), DEFAULT_INTERVAL) == 0.0


@pytest.mark.parametrize("rate", [1, 2, 10, 50, 200, 500])
@pytest.mark.parametrize("pass_seconds", [0.0, 0.02])
def test_a_relay_at_the_default_interval_keeps_a_batch_at_its_rate(rate, pass_seconds):
    """Relay passes as run_forever makes them (pause, plus the pass's own time)."""
    total = max(5, rate * 5)
    done, paced_from, now, times = 0, None, 0.2, []
    while done < total:
        step = allowance(rate=rate, done=done, total=total, paced_from=paced_from, now=at(now))
        times += [now] * step.count
        done, paced_from = done + step.count, step.paced_from
        report = RelayReport(batch_due_in=step.next_due_in)
        now += pass_seconds + pause(report, DEFAULT_INTERVAL, elapsed=pass_seconds)
        assert now < 60, "the batch stalled"
    measured = (total - 1) / (times[-1] - times[0])
    assert measured == pytest.approx(rate, rel=0.05)
    # Never ahead of the pace: a one-second window holds what came due in it and in the gap
    # before its first pass (a pass requeues what came due since the previous one).
    gap = BATCH_PACE_STEP_SECONDS + pass_seconds
    busiest = max(sum(1 for t in times[i:] if t - s < 1.0 - 1e-9) for i, s in enumerate(times))
    assert busiest <= rate * (1 + gap) + 1
