"""The pace of a resumed subscriber's release (bus/pauses.allowance), without a database."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from eventhub.bus.dispatch import MESSAGE_BATCH
from eventhub.bus.pauses import allowance

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


@pytest.fixture(autouse=True)
def default_interval(settings: Any) -> None:
    settings.EVENTHUB = {**settings.EVENTHUB, "RELAY_INTERVAL_SECONDS": 0.5}


def test_delivery_k_is_due_k_over_rate_seconds_after_the_resume() -> None:
    assert allowance(rate=20, released=0, paced_from=T0, now=T0).count == 1
    assert allowance(rate=20, released=1, paced_from=T0, now=at(0.049)).count == 0
    assert allowance(rate=20, released=1, paced_from=T0, now=at(0.5)).count == 10
    assert allowance(rate=20, released=11, paced_from=T0, now=at(1.0)).count == 10


def test_a_late_relay_does_not_catch_up_in_a_flood() -> None:
    late = allowance(rate=20, released=0, paced_from=T0, now=at(60))
    assert late.count == 20  # two intervals' worth, not 1,201
    # The pace's origin moved up: the next slice is due at the rate from here.
    nxt = allowance(rate=20, released=20, paced_from=late.paced_from, now=at(60.5))
    assert nxt.count == 10


def test_a_slice_is_at_most_one_message() -> None:
    assert allowance(rate=1000, released=0, paced_from=T0, now=at(10)).count == MESSAGE_BATCH
