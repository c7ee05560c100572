"""The relay's look for starts that died: the age bound at its default (timeout + grace).

A delivery whose start counter is ahead of its attempts is released for dispatch only once
it was dispatched longer ago than its subscriber's timeout plus the lease grace (60 + 10 s
by default, the lease a leased attempt holds): a handler may still be running until then.
The worker killed whole mid-handler is in tests/chaos/test_dead_starts.py.
"""

from __future__ import annotations

import threading
from datetime import timedelta
from typing import Any

import pytest
import redis
from django.db import connection, connections, transaction
from django.utils import timezone

from eventhub.bus import starts, subscribers
from eventhub.bus.dead_starts import age_bound, release_dead_starts
from eventhub.models import Delivery
from tests.integration.flows import SEED_ORDER, place_order

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

RESERVE = "inventory.reserve_stock"  # no timeout of its own: the default


@pytest.fixture
def counter(redis_server: Any) -> redis.Redis:
    redis_server.flush()
    return redis.Redis.from_url(redis_server.url)


def _dispatched_ago(seconds: float) -> Delivery:
    order = place_order(SEED_ORDER)  # dispatched on commit; no worker runs it
    delivery = Delivery.objects.select_related("event").get(
        event__correlation_id=order["correlationId"], subscriber=RESERVE
    )
    Delivery.objects.filter(pk=delivery.pk).update(
        dispatched_at=timezone.now() - timedelta(seconds=seconds)
    )
    return delivery


def _dispatched(delivery: Delivery) -> bool:
    return Delivery.objects.filter(pk=delivery.pk, dispatched_at__isnull=False).exists()


def test_the_age_bound_is_the_subscriber_s_timeout_plus_the_lease_grace(settings: Any) -> None:
    assert settings.EVENTHUB["DEFAULT_TIMEOUT_SECONDS"] == 60.0
    assert settings.EVENTHUB["LEASE_GRACE_SECONDS"] == 10.0
    assert age_bound(subscribers.get(RESERVE)) == age_bound(None) == 70.0


def test_a_dead_start_is_released_only_once_the_age_bound_has_passed(
    counter: redis.Redis,
) -> None:
    delivery = _dispatched_ago(65)  # a start may still be running: left alone
    counter.set(starts.key(delivery), 1)  # one start, no outcome (attempts 0)
    assert release_dead_starts() == 0
    assert _dispatched(delivery)

    Delivery.objects.filter(pk=delivery.pk).update(
        dispatched_at=timezone.now() - timedelta(seconds=75)
    )
    assert release_dead_starts() == 1
    assert not _dispatched(delivery)


def test_a_delivery_whose_message_is_only_queued_is_left_alone(counter: redis.Redis) -> None:
    delivery = _dispatched_ago(75)  # dispatched long ago but never started: no count
    assert release_dead_starts() == 0
    counter.set(starts.key(delivery), 0)
    assert release_dead_starts() == 0
    assert _dispatched(delivery)


@pytest.mark.postgres
def test_a_row_locked_by_a_running_handler_is_left_alone(counter: redis.Redis) -> None:
    """PostgreSQL: a handler past its age bound still holds its claim's row lock."""
    if connection.vendor != "postgresql":
        pytest.skip("row locks are PostgreSQL's; SQLite serialises on its write lock")
    delivery = _dispatched_ago(75)
    counter.set(starts.key(delivery), 1)
    locked, done = threading.Event(), threading.Event()

    def running_handler() -> None:
        try:
            with transaction.atomic():
                Delivery.objects.filter(pk=delivery.pk).update(attempts=1)  # a claim's lock
                locked.set()
                done.wait(30)
                transaction.set_rollback(True)
        finally:
            connections.close_all()

    thread = threading.Thread(target=running_handler)
    thread.start()
    try:
        assert locked.wait(10)
        assert release_dead_starts() == 0
    finally:
        done.set()
        thread.join(10)
    assert _dispatched(delivery)
    assert release_dead_starts() == 1  # the handler died (rolled back): now it is released
