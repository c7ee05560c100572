"""A worker SIGKILLed mid-delivery: the delivery is attempted again and applied once.

The workers here hold short leases (a 3 s handler timeout plus 1 s grace) and a 5 s Redis
visibility timeout swept every second, so that both recovery paths race: the relay's lease
recovery and the broker's redelivery of the unacked message. Whichever wins, the effect
happens once. A message the killed worker had reserved but not started comes back through
the broker's sweep.
"""

from __future__ import annotations

import os
import signal

import psutil
import pytest

from eventhub.models import Attempt, Delivery, FaultRule
from inventory.models import Reservation
from orders.models import Order
from tests.conftest import wait_until
from tests.integration.flows import SEED_ORDER, place_order, stock, wait_for_flow

pytestmark = [
    pytest.mark.integration,
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("quick_redispatch"),
]

SHORT_LEASES = {
    "EVENTHUB_DEFAULT_TIMEOUT_SECONDS": "3",
    "EVENTHUB_LEASE_GRACE_SECONDS": "1",
    "CELERY_VISIBILITY_TIMEOUT": "5",
    "CELERY_UNACKED_RESTORE_INTERVAL": "1",
}
SLOW = "inventory.reserve_stock"


def _alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def _running_reservation(order: dict) -> Delivery:
    return wait_until(
        lambda: Delivery.objects.filter(
            event__correlation_id=order["correlationId"],
            subscriber=SLOW,
            status=Delivery.Status.RUNNING,
        ).first(),
        message="the reservation to be running",
    )


def _assert_applied_once(order: dict, delivery: Delivery) -> None:
    assert wait_for_flow(order, timeout=90).status == Order.Status.CONFIRMED
    delivery.refresh_from_db()
    assert delivery.status == Delivery.Status.SUCCEEDED
    assert delivery.attempts == 2
    outcomes = list(Attempt.objects.filter(delivery=delivery).values_list("outcome", flat=True))
    assert outcomes == [Attempt.Outcome.LOST, Attempt.Outcome.SUCCEEDED]
    assert stock("PROD-001") == 98
    assert stock("PROD-003") == 199
    assert Reservation.objects.filter(order_id=order["orderId"]).count() == 2


def test_a_killed_worker_s_in_flight_delivery_is_redelivered(start_worker, relay):
    first = start_worker(**SHORT_LEASES)
    FaultRule.objects.create(subscriber=SLOW, enabled=True, latency_ms=60_000)
    order = place_order(SEED_ORDER)
    delivery = _running_reservation(order)

    pids = first.pids()
    first.kill()
    assert first.process.returncode == -signal.SIGKILL
    wait_until(lambda: not any(_alive(pid) for pid in pids), message="the pool to be gone")
    FaultRule.objects.filter(subscriber=SLOW).update(enabled=False)
    start_worker(**SHORT_LEASES)

    _assert_applied_once(order, delivery)


def test_a_killed_pool_child_s_delivery_is_redelivered(start_worker, relay):
    worker = start_worker(**SHORT_LEASES)
    FaultRule.objects.create(subscriber=SLOW, enabled=True, latency_ms=60_000)
    order = place_order(SEED_ORDER)
    delivery = _running_reservation(order)
    # The claim (status running) commits just before the attempt row is written.
    attempt = wait_until(
        lambda: Attempt.objects.filter(delivery=delivery, number=1).first(),
        message="the first attempt to be recorded",
    )
    child_pid = int(attempt.worker.rsplit(":", 1)[1])
    assert child_pid in worker.pids() and child_pid != worker.process.pid

    FaultRule.objects.filter(subscriber=SLOW).update(enabled=False)
    os.kill(child_pid, signal.SIGKILL)

    _assert_applied_once(order, delivery)
    assert worker.process.poll() is None  # the main worker process carried on
