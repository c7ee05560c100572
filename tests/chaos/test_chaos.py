"""Chaos: real processes killed and cut off; the checker counts lost and duplicated effects.

Leases are short here (a 2 s handler timeout plus 1 s grace) and so is Redis's
visibility_timeout (10 s), so that recovery happens within the test's time.
"""

from __future__ import annotations

import time
import urllib.error
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.db import transaction

from eventhub.models import Attempt, Delivery, Event
from orders.models import Order
from tests.conftest import http_json, wait_until
from tests.integration.flows import UNFINISHED

from . import probe
from .checker import check

pytestmark = [pytest.mark.chaos, pytest.mark.django_db(transaction=True)]

SHORT_LEASES = {
    "EVENTHUB_DEFAULT_TIMEOUT_SECONDS": "2",
    "EVENTHUB_LEASE_GRACE_SECONDS": "1",
    "CELERY_VISIBILITY_TIMEOUT": "10",
    "CELERY_UNACKED_RESTORE_INTERVAL": "1",
    "EVENTHUB_RETRY_DELAY_SCALE": "0.05",
}
ORDER = {"userId": "chaos", "items": [{"productId": "PROD-003", "quantity": 1}]}


def publish_pings(count: int) -> list[str]:
    with transaction.atomic():
        for i in range(count):
            probe.pinged.send(sender=None, event=probe.Pinged(ping_id=f"p{i}-{time.time_ns()}"))
    return [
        str(e)
        for e in Event.objects.filter(event_type="chaos.pinged").values_list("event_id", flat=True)
    ]


def settled(timeout: float) -> None:
    wait_until(
        lambda: not Delivery.objects.filter(status__in=UNFINISHED).exists(),
        timeout=timeout,
        interval=0.25,
        message="every delivery to finish",
    )


def assert_exactly_once(event_ids: list[str]) -> None:
    once = check(event_ids, probe.ONCE)
    assert (once.lost, once.duplicated) == ([], {})
    at_least_once = check(event_ids, probe.AT_LEAST_ONCE)
    assert at_least_once.lost == []


def test_a_web_process_killed_between_commit_and_dispatch_loses_nothing(
    probe_env, start_web, start_worker, relay
):
    web = start_web(EVENTHUB_CHAOS_CRASH_BEFORE_DISPATCH="0.2")
    start_worker(**SHORT_LEASES)
    crashes = 0
    for _ in range(60):
        try:
            http_json("POST", f"{web.url}/orders", ORDER)
        except (urllib.error.URLError, ConnectionError, OSError):
            crashes += 1
            web.stop()
            web.start()
    assert crashes > 0  # the chaos happened
    settled(timeout=180)
    created = Event.objects.filter(event_type="order.created").values_list("event_id", flat=True)
    print(f"web crashes: {crashes}; committed orders: {len(created)}")
    assert len(created) >= 60 - crashes
    assert_exactly_once([str(e) for e in created])
    assert not Order.objects.filter(status=Order.Status.PENDING).exists()


def test_a_rolled_back_transaction_publishes_nothing(probe_env, start_worker, relay):
    start_worker()
    with pytest.raises(RuntimeError), transaction.atomic():
        probe.pinged.send(sender=None, event=probe.Pinged(ping_id="never"))
        raise RuntimeError("the business write failed")
    assert not Event.objects.exists()
    assert not Delivery.objects.exists()


def test_a_killed_worker_with_a_thousand_deliveries_in_flight_loses_none_applies_none_twice(
    probe_env, start_worker, relay, settings
):
    settings.EVENTHUB = {**settings.EVENTHUB, "REDISPATCH_AFTER_SECONDS": 15.0}
    pings = publish_pings(500)  # two probe subscribers each: 1,000 deliveries
    assert Delivery.objects.count() == 1000
    first = start_worker(concurrency=2, CELERY_WORKER_PREFETCH_MULTIPLIER="8", **SHORT_LEASES)
    wait_until(
        lambda: Delivery.objects.filter(status=Delivery.Status.SUCCEEDED).count() >= 200,
        timeout=120,
        message="a fifth of the deliveries to be done",
    )
    first.kill()
    in_flight = Delivery.objects.exclude(status=Delivery.Status.SUCCEEDED).count()
    print(f"killed the worker with {in_flight} deliveries not yet done")
    start_worker(concurrency=2, **SHORT_LEASES)
    settled(timeout=240)
    assert set(Delivery.objects.values_list("status", flat=True)) == {Delivery.Status.SUCCEEDED}
    assert_exactly_once(pings)


def test_a_poison_message_that_kills_its_pool_process_ends_in_the_dead_letters(
    probe_env, start_worker, relay
):
    worker = start_worker(concurrency=1, **SHORT_LEASES)
    probe.poisoned.send(sender=None, event=probe.Poisoned(ping_id="poison"))
    delivery = Delivery.objects.get(subscriber=probe.POISON)
    wait_until(
        lambda: Delivery.objects.get(pk=delivery.pk).status == Delivery.Status.DEAD,
        timeout=120,
        message="the poison message to be dead-lettered",
    )
    delivery.refresh_from_db()
    assert delivery.attempts == delivery.max_attempts == 3
    outcomes = list(Attempt.objects.filter(delivery=delivery).values_list("outcome", flat=True))
    assert outcomes == [Attempt.Outcome.LOST] * 3
    assert Event.objects.filter(event_type="event.processing.failed").count() == 1
    assert worker.process.poll() is None  # the main worker replaced its pool process


def test_orders_placed_while_redis_is_down_for_30_seconds_all_complete(
    probe_env, start_web, start_worker, relay, redis_server
):
    web = start_web()
    start_worker(concurrency=2, **SHORT_LEASES)
    redis_server.stop()
    down_at = time.monotonic()
    try:
        with ThreadPoolExecutor(8) as pool:
            responses = list(
                pool.map(lambda _: http_json("POST", f"{web.url}/orders", ORDER), range(500))
            )
        placed_in = time.monotonic() - down_at
        assert all(r["success"] for r in responses), [r for r in responses if not r["success"]][:3]
        wait_until(lambda: time.monotonic() - down_at >= 30, timeout=40, interval=0.5)
    finally:
        redis_server.start()
    print(f"500 orders placed in {placed_in:.1f}s with Redis down")
    settled(timeout=420)
    created = [
        str(e)
        for e in Event.objects.filter(event_type="order.created").values_list("event_id", flat=True)
    ]
    assert len(created) == 500
    assert_exactly_once(created)
    assert not Order.objects.filter(status=Order.Status.PENDING).exists()


def test_every_message_delivered_twice_to_two_workers_is_applied_once(
    probe_env, start_worker, relay, settings
):
    settings.EVENTHUB = {**settings.EVENTHUB, "CHAOS_DUPLICATE_DISPATCH": True}
    start_worker(concurrency=2)
    start_worker(concurrency=2)
    pings = publish_pings(300)
    settled(timeout=180)
    assert_exactly_once(pings)
    assert set(Delivery.objects.values_list("attempts", flat=True)) == {1}
