"""``RetryPolicy.delay_after``: exponential backoff from ``base_delay``, capped at
``max_delay``, spread by +-``jitter``, scaled by ``RETRY_DELAY_SCALE``."""

from __future__ import annotations

import random

import pytest

from eventhub.bus import subscribers
from eventhub.bus.subscribers import RetryPolicy

EXACT = RetryPolicy(jitter=0.0)


class Extreme:
    """Stands in for ``random``: ``uniform`` returns its lowest or highest value."""

    def __init__(self, end: str) -> None:
        self.end = end
        self.asked: list[tuple[float, float]] = []

    def uniform(self, low: float, high: float) -> float:
        self.asked.append((low, high))
        return low if self.end == "low" else high


def test_the_first_retry_waits_the_base_delay_and_each_next_one_factor_times_longer():
    policy = RetryPolicy(base_delay=1.5, factor=3.0, max_delay=1000.0, jitter=0.0)
    assert [policy.delay_after(n) for n in (1, 2, 3, 4)] == [1.5, 4.5, 13.5, 40.5]
    assert [EXACT.delay_after(n) for n in (1, 2, 3, 4, 5)] == [1.0, 2.0, 4.0, 8.0, 16.0]


def test_the_delay_stops_growing_at_max_delay():
    assert [EXACT.delay_after(n) for n in (8, 9, 10, 50)] == [128.0, 256.0, 300.0, 300.0]


def test_an_attempt_number_past_what_a_float_can_raise_to_still_gets_max_delay():
    # A dead letter retried again and again keeps numbering its attempts: 2.0 ** 1024
    # overflowed and the failure could not be recorded (nor the relay's pass finished).
    assert EXACT.delay_after(1025) == 300.0
    assert EXACT.delay_after(10**6) == 300.0


@pytest.mark.parametrize(("end", "factor"), [("low", 0.75), ("high", 1.25)])
def test_jitter_spreads_the_delay_by_its_fraction_either_way(monkeypatch, end, factor):
    extreme = Extreme(end)
    monkeypatch.setattr(subscribers, "random", extreme)
    assert RetryPolicy().delay_after(3) == pytest.approx(4.0 * factor)
    assert RetryPolicy().delay_after(20) == pytest.approx(300.0 * factor)  # the cap, jittered
    assert extreme.asked == [(0.75, 1.25), (0.75, 1.25)]


def test_jittered_delays_fill_their_range_and_never_leave_it():
    random.seed(17)
    delays = [RetryPolicy().delay_after(4) for _ in range(2000)]
    assert 6.0 <= min(delays) < 6.1
    assert 9.9 < max(delays) <= 10.0
    assert len(set(delays)) == len(delays)  # not a few fixed steps: retries spread out


def test_scale_multiplies_the_whole_delay_cap_included():
    assert EXACT.delay_after(3, scale=0.01) == pytest.approx(0.04)
    assert EXACT.delay_after(30, scale=0.01) == pytest.approx(3.0)
    assert EXACT.delay_after(3, scale=1.0) == 4.0
