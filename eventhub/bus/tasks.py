"""The Celery tasks of the bus: run one attempt of one delivery, or of several in order.

They receive ids only; state lives in the database. Retries are never scheduled with a
Celery countdown (a countdown longer than Redis's visibility_timeout runs twice): a failed
attempt sets ``next_attempt_at`` and the relay dispatches it when due.

``deliver_many`` carries several deliveries of one queue (``dispatch`` groups them), each
with its own dispatch number, so that each is fenced exactly as its own message would be.
Each runs in its own transaction (one failure rolls back only itself) under its own soft
time limit; the message's hard limit is the sum of theirs. A process killed mid-batch has
its message redelivered: the finished deliveries are then skipped, the interrupted one is
counted as lost, the rest run.
"""

from __future__ import annotations

import signal
from collections.abc import Callable
from types import FrameType

from celery import shared_task
from celery.exceptions import SoftTimeLimitExceeded
from opentelemetry import trace

from . import subscribers
from .delivery import execute, worker_name
from .dispatch import DELIVER, DELIVER_MANY


@shared_task(name=DELIVER, acks_late=True, reject_on_worker_lost=True, ignore_result=True)
def deliver(delivery_id: int, dispatch_seq: int, subscriber: str | None = None) -> str:
    # Celery's run span: named for the task, tagged here with the delivery it runs.
    trace.get_current_span().set_attribute("eventhub.delivery_id", delivery_id)
    return execute(
        delivery_id=delivery_id,
        dispatch_seq=dispatch_seq,
        worker=worker_name(),
        subscriber=subscriber,
    )


@shared_task(name=DELIVER_MANY, acks_late=True, reject_on_worker_lost=True, ignore_result=True)
def deliver_many(deliveries: list[tuple[int, int, str]]) -> list[str]:
    """``[(delivery_id, dispatch_seq, subscriber), ...]``, one after the other."""
    worker = worker_name()
    outcomes = []
    for delivery_id, dispatch_seq, subscriber in deliveries:
        seconds = subscribers.timeout_of(subscribers.get(subscriber))
        outcomes.append(
            within(
                seconds,
                lambda d=delivery_id, s=dispatch_seq, n=subscriber: execute(
                    delivery_id=d, dispatch_seq=s, worker=worker, subscriber=n
                ),
            )
        )
    return outcomes


def within(seconds: float, run: Callable[[], str]) -> str:
    """``run()`` with a soft time limit of its own: SoftTimeLimitExceeded raised in it after
    ``seconds``, as Celery's own soft limit would (a pool process runs tasks in its main
    thread; elsewhere, e.g. an eager call, the message's limits alone apply)."""

    def expire(signum: int, frame: FrameType | None) -> None:
        raise SoftTimeLimitExceeded(f"soft time limit ({seconds:g} s) exceeded")

    try:
        previous = signal.signal(signal.SIGALRM, expire)
    except ValueError:  # not the main thread
        return run()
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        return run()
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
