"""A worker SIGKILLed in the middle of sagas: after a restart every saga completes or
compensates, and no order is left pending.

Short leases (3 s timeout + 1 s grace) and a 5 s Redis visibility timeout, as in
test_worker_crash.py: the relay counts the killed attempt as lost and schedules the next.
A message the killed worker had reserved but not started holds no lease; it comes back
through the relay's re-dispatch of deliveries dispatched but never started (8 s here, the
``quick_redispatch`` fixture) or Redis's sweep of unacked messages.
"""

from __future__ import annotations

import signal

import psutil
import pytest

from eventhub.bus import Guarantee
from eventhub.models import Attempt, Delivery, FaultRule
from orders.models import Order
from orders.payments.models import Payment
from tests.conftest import wait_until
from tests.integration.flows import UNFINISHED, place_order, stock
from tests.integration.saga import HAPPY, PAYMENT_DECLINED, SHIPMENT_REFUSED, reserved

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


def _alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


@pytest.mark.parametrize(
    "slow",
    [
        pytest.param("shipping.create_shipment", id="killed-while-shipping"),
        pytest.param("inventory.release_stock", id="killed-while-compensating"),
    ],
)
def test_sagas_interrupted_by_a_killed_worker_all_finish_after_a_restart(start_worker, relay, slow):
    first = start_worker(**SHORT_LEASES)
    # The step hangs, so the worker is surely killed with that step in hand.
    FaultRule.objects.create(subscriber=slow, enabled=True, latency_ms=60_000)
    orders = {
        "happy": place_order(HAPPY),
        "payment": place_order(PAYMENT_DECLINED),
        "shipment": place_order(SHIPMENT_REFUSED),
    }
    wait_until(
        lambda: Delivery.objects.filter(subscriber=slow, status=Delivery.Status.RUNNING).exists(),
        message=f"{slow} to be running",
    )
    assert Order.objects.filter(status=Order.Status.PENDING).exists()  # mid-saga

    pids = first.pids()
    first.kill()
    assert first.process.returncode == -signal.SIGKILL
    wait_until(lambda: not any(_alive(pid) for pid in pids), message="the pool to be gone")
    FaultRule.objects.filter(subscriber=slow).update(enabled=False)
    start_worker(**SHORT_LEASES)

    wait_until(
        lambda: (
            not Order.objects.filter(status=Order.Status.PENDING).exists()
            and not Delivery.objects.filter(status__in=UNFINISHED).exists()
        ),
        timeout=120,
        interval=0.2,
        message="every saga to finish after the restart",
    )
    status = {k: Order.objects.get(pk=o["orderId"]).status for k, o in orders.items()}
    assert status == {"happy": "confirmed", "payment": "cancelled", "shipment": "cancelled"}
    # Every retried delivery succeeded. An at-most-once counter caught in flight by the kill
    # is recorded as failed instead: it is never tried twice.
    retried = Delivery.objects.exclude(guarantee=Guarantee.AT_MOST_ONCE)
    assert set(retried.values_list("status", flat=True)) == {Delivery.Status.SUCCEEDED}
    counted = Delivery.objects.filter(guarantee=Guarantee.AT_MOST_ONCE)
    assert set(counted.values_list("status", flat=True)) <= {"succeeded", "failed"}
    lost = Attempt.objects.filter(delivery__subscriber=slow, outcome=Attempt.Outcome.LOST)
    assert lost.exists(), "the kill should have cost the slow step an attempt"

    # Applied once despite the second attempt: stock and money add up.
    assert stock("PROD-001") == 100 - 2
    assert stock("PROD-003") == 200 - 1
    assert reserved(orders["payment"]["orderId"]) == [("PROD-001", 15, True)]
    assert reserved(orders["shipment"]["orderId"]) == [("PROD-003", 21, True)]
    assert dict(Payment.objects.values_list("order_id", "status")) == {
        orders["happy"]["orderId"]: "authorized",
        orders["payment"]["orderId"]: "declined",
        orders["shipment"]["orderId"]: "refunded",
    }
