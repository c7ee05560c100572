"""A broker restarted without its data: the relay sends the lost messages again at once.

The relay runs at its default interval here (0.5 s), as ``./bin/run`` runs it; without the
broker watch these deliveries would wait for EVENTHUB_REDISPATCH_AFTER_SECONDS (600 s).
"""

from __future__ import annotations

import time

import pytest
import redis

from eventhub.bus import subscribers
from eventhub.bus.broker_watch import MARKER_KEY
from eventhub.models import Delivery
from notifications.models import Notification
from orders.models import Order
from tests.conftest import wait_until
from tests.integration.flows import SEED_ORDER, place_order, stock, wait_for_flow

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

# Far below the 600 s backstop it replaces, with room for a loaded CI machine.
REDISPATCH_SECONDS = 30.0


def test_messages_lost_in_a_broker_restart_are_sent_again_within_seconds(
    settings, redis_server, start_worker, default_relay
):
    assert settings.EVENTHUB["RELAY_INTERVAL_SECONDS"] == 0.5
    assert settings.EVENTHUB["REDISPATCH_AFTER_SECONDS"] == 600.0
    broker = redis.Redis.from_url(redis_server.url)
    wait_until(lambda: broker.exists(MARKER_KEY), timeout=10, message="the relay's marker")

    orders = [place_order(SEED_ORDER) for _ in range(5)]  # no worker yet: all left in Redis
    first = Delivery.objects.filter(event__event_type="order.created")
    assert first.count() == 5 * len(subscribers.for_event_type("order.created"))
    assert set(first.values_list("dispatch_seq", flat=True)) == {1}
    assert not first.filter(dispatched_at__isnull=True).exists()

    redis_server.stop()
    redis_server.start()  # empty: the messages are gone
    restarted = time.monotonic()
    wait_until(
        lambda: set(first.values_list("dispatch_seq", flat=True)) == {2},
        timeout=REDISPATCH_SECONDS,
        interval=0.1,
        message="every lost delivery to be dispatched again",
    )
    print(f"re-dispatched {time.monotonic() - restarted:.1f} s after the broker restart")

    start_worker()
    for order in orders:
        assert wait_for_flow(order, timeout=60).status == Order.Status.CONFIRMED
    deliveries = Delivery.objects.all()
    assert set(deliveries.values_list("status", flat=True)) == {Delivery.Status.SUCCEEDED}
    assert set(deliveries.values_list("attempts", flat=True)) == {1}  # each applied once
    assert stock("PROD-001") == 100 - 2 * 5
    assert Notification.objects.count() == 3 * 5
    assert set(first.values_list("dispatch_seq", flat=True)) == {2}  # not sent a third time


def test_a_broker_restarted_with_its_data_gets_nothing_sent_twice(
    redis_server, start_worker, default_relay
):
    broker = redis.Redis.from_url(redis_server.url)
    wait_until(lambda: broker.exists(MARKER_KEY), timeout=10, message="the relay's marker")
    orders = [place_order(SEED_ORDER) for _ in range(2)]  # no worker yet: all left in Redis
    broker.save()  # a snapshot, loaded by the next start
    redis_server.stop()
    try:
        redis_server.start()
    finally:
        (redis_server.directory / "dump.rdb").unlink()
    assert broker.exists(MARKER_KEY)
    start_worker()
    for order in orders:
        assert wait_for_flow(order, timeout=60).status == Order.Status.CONFIRMED
    assert set(Delivery.objects.values_list("dispatch_seq", flat=True)) == {1}
