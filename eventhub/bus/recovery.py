"""Recovering at once from a crash, instead of waiting out leases and the re-dispatch backstop.

Two things a crash leaves behind, each found here by what is known for certain:

- Messages the broker no longer holds, or that a dead worker had reserved: deliveries that
  were dispatched and never started. ``redispatch_unstarted`` releases them for the relay to
  send again. That is always safe: dispatching again bumps ``dispatch_seq``, so an old
  message that does turn up later finds a different number and does nothing, and a delivery
  that an old message started meanwhile is ``running`` and left alone.
- Attempts held by worker processes on this host that no longer exist. Their lease would run
  out after the handler's timeout plus grace (70 s by default); the process is gone, so
  ``abandon_dead_local_attempts`` records them as lost now (``fail_attempt`` re-checks the
  attempt number under a row lock, so an attempt that finished meanwhile is left alone).
"""

from __future__ import annotations

import logging
import socket
from datetime import datetime

import psutil
from django.utils import timezone

from ..models import Attempt, Delivery
from .delivery import fail_attempt
from .dispatch import DISPATCHABLE

log = logging.getLogger(__name__)


def redispatch_unstarted(*, dispatched_before: datetime | None = None) -> int:
    """Release every delivery dispatched (before ``dispatched_before``) and not yet started."""
    cutoff = dispatched_before or timezone.now()
    return Delivery.objects.filter(
        status__in=DISPATCHABLE, dispatched_at__isnull=False, dispatched_at__lt=cutoff
    ).update(dispatched_at=None)


def _process_gone(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True
    except psutil.Error:  # exists, but not ours to inspect: alive
        return False


def _local_pid(worker: str, host: str) -> int | None:
    """The pid in an attempt's ``worker`` (``host:pid``) if that host is this one."""
    name, _, pid = worker.rpartition(":")
    return int(pid) if name == host and pid.isdigit() else None


def abandon_dead_local_attempts() -> int:
    """Record as lost the running attempts of worker processes of this host that are gone.

    Only for a launcher that owns every worker of its host (``runstack``): a host name shared
    by containers with separate process namespaces would make live workers look dead.
    """
    host = socket.gethostname()
    running = Attempt.objects.filter(
        outcome=Attempt.Outcome.RUNNING,
        delivery__status=Delivery.Status.RUNNING,
        worker__startswith=f"{host}:",
    ).values_list("delivery_id", "number", "worker")
    abandoned = 0
    for delivery_id, number, worker in running:
        pid = _local_pid(worker, host)
        if pid is None or not _process_gone(pid):
            continue
        outcome = fail_attempt(
            delivery_id=delivery_id,
            attempt_number=number,
            error=f"WorkerLost: worker process {worker} is gone",
            outcome=Attempt.Outcome.LOST,
        )
        abandoned += outcome != "lease-lost"
    return abandoned
