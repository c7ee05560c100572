"""Batched hand-off (issue 11.3): the deliveries claimed together go out as one message per
queue (up to ``MESSAGE_BATCH``), each still fenced by its own dispatch number and run in its
own transaction, so one failure in a batch rolls back only itself.
"""

from __future__ import annotations

import dataclasses
import signal
import time

import pytest
import redis
from celery.exceptions import SoftTimeLimitExceeded
from django.db import transaction

from eventhub.bus import Received, dispatch, subscribers
from eventhub.bus.tasks import deliver_many, within
from eventhub.models import Attempt, Delivery
from orders.models import Order
from orders.services import ItemInput, order_place
from tests.conftest import wait_until
from tests.integration.flows import UNFINISHED, stock

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

RESERVE = "inventory.reserve_stock"


def _place_orders(count: int) -> list[Order]:
    """``count`` orders in one transaction (one hand-off after its commit)."""
    with transaction.atomic():
        return [
            order_place(user_id=f"u{i}", items=[ItemInput("PROD-003", 1, None)])
            for i in range(count)
        ]


def test_one_commit_of_many_events_goes_out_as_one_message_per_queue(redis_server) -> None:
    redis_server.flush()
    _place_orders(3)  # no worker: the messages wait in their queues
    deliveries = Delivery.objects.all()
    queues = set(deliveries.values_list("queue", flat=True))
    assert deliveries.count() > len(queues)
    assert deliveries.filter(dispatched_at__isnull=True).count() == 0
    client = redis.Redis.from_url(redis_server.url)
    assert {q: client.llen(q) for q in queues} == dict.fromkeys(queues, 1)


def test_messages_carry_at_most_a_batch_each(monkeypatch: pytest.MonkeyPatch) -> None:
    rows = [(n, 1, "bench", "x.y") for n in range(1, 2 * dispatch.MESSAGE_BATCH + 2)]
    rows.insert(1, (999, 3, "other", "a.b"))
    messages = dispatch._messages(rows)
    assert [(q, len(r)) for q, r in messages] == [
        ("bench", dispatch.MESSAGE_BATCH),
        ("bench", dispatch.MESSAGE_BATCH),
        ("bench", 1),
        ("other", 1),
    ]
    assert messages[3][1] == [(999, 3, "a.b")]  # each delivery keeps its dispatch number


def test_batched_orders_complete_with_a_worker(start_worker, relay) -> None:
    start_worker()
    orders = _place_orders(5)
    wait_until(
        lambda: (
            not Delivery.objects.filter(status__in=UNFINISHED).exists()
            and not Order.objects.filter(pk__in=[o.pk for o in orders], status="pending").exists()
        ),
        timeout=90,
        message="every saga of the batch to finish",
    )
    assert set(Order.objects.values_list("status", flat=True)) == {"confirmed"}
    assert stock("PROD-003") == 200 - 5
    assert set(Delivery.objects.values_list("attempts", flat=True)) == {1}


def test_a_failure_in_a_batch_rolls_back_only_itself(
    redis_server, monkeypatch: pytest.MonkeyPatch
) -> None:
    redis_server.flush()
    first, second = _place_orders(2)
    batch = Delivery.objects.filter(subscriber=RESERVE).order_by("pk")
    rows = [[d.pk, d.dispatch_seq, d.subscriber] for d in batch]
    real = subscribers.get(RESERVE)
    assert real is not None

    def fail_for_the_first(event: Received) -> None:
        real.handler(event)
        if event.data.order_id == first.pk:
            raise RuntimeError("the first one fails after its writes")

    monkeypatch.setitem(
        subscribers._REGISTRY, RESERVE, dataclasses.replace(real, handler=fail_for_the_first)
    )
    assert deliver_many.run(rows) == [Delivery.Status.RETRYING, "succeeded"]
    assert stock("PROD-003") == 200 - 1  # only the second reservation stayed
    failed = Attempt.objects.get(delivery=batch[0])
    assert failed.error == "RuntimeError: the first one fails after its writes"
    # The same message again (redelivered): the finished one is skipped.
    assert deliver_many.run(rows)[1] == "skipped"
    assert stock("PROD-003") == 200 - 1


def test_each_delivery_of_a_batch_has_its_own_soft_time_limit() -> None:
    with pytest.raises(SoftTimeLimitExceeded):
        within(0.2, lambda: time.sleep(30) or "never")
    assert signal.getitimer(signal.ITIMER_REAL) == (0.0, 0.0)
    assert within(30, lambda: "done") == "done"
    assert signal.getitimer(signal.ITIMER_REAL) == (0.0, 0.0)
