"""A worker killed whole (main process and pool) mid-handler, outside ``./bin/run``.

A one-transaction attempt leaves nothing in the database when it dies: the delivery is still
pending and dispatched, and its message sits unacked in Redis until the visibility timeout
(an hour here, the default). The relay, at its default interval and with its default
600 s backstop, sees the start counted and no outcome, releases the dispatch once the
subscriber's timeout plus the grace have passed, and dispatches it again: the next start
records the dead one as lost and applies the delivery once.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
from django.db import connection

from eventhub.bus import starts
from eventhub.bus.dead_starts import age_bound
from eventhub.bus.subscribers import get
from eventhub.models import Attempt, Delivery
from tests.conftest import wait_until

from . import probe, stall

pytestmark = [pytest.mark.chaos, pytest.mark.django_db(transaction=True)]

GRACE_SECONDS = 1.0


@pytest.fixture
def stall_env(probe_env: None, worker_env: dict[str, str], settings: Any) -> Iterator[None]:
    stall.install()
    worker_env["EVENTHUB_PLUGINS"] += ",tests.chaos.stall"
    worker_env["EVENTHUB_LEASE_GRACE_SECONDS"] = str(GRACE_SECONDS)
    settings.EVENTHUB = {**settings.EVENTHUB, "LEASE_GRACE_SECONDS": GRACE_SECONDS}
    yield
    stall.uninstall()


def _effects() -> list[tuple[int, int]]:
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT attempt, pid FROM {probe.TABLE} WHERE subscriber = %s", [stall.STALL]
        )
        return [(attempt, pid) for attempt, pid in cursor.fetchall()]


def test_a_worker_killed_whole_mid_handler_has_its_delivery_dispatched_again(
    settings: Any, stall_env: None, start_worker: Any, default_relay: None
) -> None:
    assert settings.EVENTHUB["RELAY_INTERVAL_SECONDS"] == 0.5
    assert settings.EVENTHUB["REDISPATCH_AFTER_SECONDS"] == 600.0
    bound = age_bound(get(stall.STALL))
    assert bound == stall.TIMEOUT_SECONDS + GRACE_SECONDS
    first = start_worker()
    stall.stalled.send(sender=None, event=stall.Stalled(ping_id="stall"))
    delivery = Delivery.objects.select_related("event").get(subscriber=stall.STALL)
    wait_until(lambda: starts.started(delivery) == 1, message="the handler to start")
    delivery.refresh_from_db()
    assert (delivery.status, delivery.dispatch_seq) == (Delivery.Status.PENDING, 1)

    first.kill()  # the whole process group, the handler mid-transaction
    killed_at = time.monotonic()
    start_worker()

    wait_until(
        lambda: Delivery.objects.filter(pk=delivery.pk, dispatch_seq__gt=1).exists(),
        timeout=bound + 10,
        message="the delivery to be dispatched again",
    )
    redispatched_after = time.monotonic() - killed_at
    wait_until(
        lambda: Delivery.objects.filter(pk=delivery.pk, status=Delivery.Status.SUCCEEDED).exists(),
        timeout=10,
        message="the delivery to succeed",
    )
    succeeded_after = time.monotonic() - killed_at
    print(
        f"dispatched again {redispatched_after:.1f} s, succeeded {succeeded_after:.1f} s"
        " after the kill"
    )
    delivery.refresh_from_db()
    assert (delivery.attempts, delivery.dispatch_seq) == (2, 2)
    outcomes = Attempt.objects.filter(delivery=delivery).order_by("number")
    assert list(outcomes.values_list("number", "outcome")) == [
        (1, Attempt.Outcome.LOST),
        (2, Attempt.Outcome.SUCCEEDED),
    ]
    assert [attempt for attempt, _ in _effects()] == [2]  # the killed start's row rolled back
    assert redispatched_after <= bound + 10
