"""What ``runstack`` recovers after a worker crash, without waiting for leases or the backstop."""

from __future__ import annotations

import os
import socket
import subprocess
import sys

import pytest
from django.utils import timezone

from eventhub.bus.recovery import abandon_dead_local_attempts, redispatch_unstarted
from eventhub.models import Attempt, Delivery
from tests.integration.flows import SEED_ORDER, place_order

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


def dead_pid() -> int:
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


def running_with(delivery: Delivery, worker: str) -> None:
    Delivery.objects.filter(pk=delivery.pk).update(
        status=Delivery.Status.RUNNING, attempts=1, lease_expires_at=timezone.now()
    )
    Attempt.objects.create(delivery=delivery, number=1, worker=worker, started_at=timezone.now())


def test_only_attempts_of_gone_processes_of_this_host_are_recorded_lost(redis_server):
    place_order(SEED_ORDER)
    place_order(SEED_ORDER)
    gone, alive, elsewhere = Delivery.objects.order_by("pk")[:3]
    host = socket.gethostname()
    running_with(gone, f"{host}:{dead_pid()}")
    running_with(alive, f"{host}:{os.getpid()}")
    running_with(elsewhere, f"another-host:{dead_pid()}")

    assert abandon_dead_local_attempts() == 1

    gone.refresh_from_db()
    assert gone.status == Delivery.Status.RETRYING
    assert gone.attempt_log.get().outcome == Attempt.Outcome.LOST
    statuses = Delivery.objects.filter(pk__in=[alive.pk, elsewhere.pk]).values_list(
        "status", flat=True
    )
    assert set(statuses) == {Delivery.Status.RUNNING}
    assert abandon_dead_local_attempts() == 0  # recorded once


def test_redispatch_releases_only_dispatched_unstarted_deliveries(redis_server):
    place_order(SEED_ORDER)
    place_order(SEED_ORDER)
    dispatched, running, succeeded = Delivery.objects.order_by("pk")[:3]
    Delivery.objects.filter(pk=running.pk).update(status=Delivery.Status.RUNNING)
    Delivery.objects.filter(pk=succeeded.pk).update(status=Delivery.Status.SUCCEEDED)
    assert Delivery.objects.filter(pk=dispatched.pk, dispatched_at__isnull=False).exists()

    released = redispatch_unstarted()

    assert released == Delivery.objects.count() - 2
    assert Delivery.objects.get(pk=dispatched.pk).dispatched_at is None
    others = Delivery.objects.filter(pk__in=[running.pk, succeeded.pk])
    assert not others.filter(dispatched_at__isnull=True).exists()
