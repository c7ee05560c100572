"""The one Celery task of the bus: run one attempt of one delivery.

It receives ids only; state lives in the database. Retries are never scheduled with a
Celery countdown (a countdown longer than Redis's visibility_timeout runs twice): a failed
attempt sets ``next_attempt_at`` and the relay dispatches it when due.
"""

from celery import shared_task
from opentelemetry import trace

from .delivery import execute, worker_name


@shared_task(
    name="eventhub.deliver", acks_late=True, reject_on_worker_lost=True, ignore_result=True
)
def deliver(delivery_id: int, dispatch_seq: int, subscriber: str | None = None) -> str:
    # Celery's run span: named for the task, tagged here with the delivery it runs.
    trace.get_current_span().set_attribute("eventhub.delivery_id", delivery_id)
    return execute(
        delivery_id=delivery_id,
        dispatch_seq=dispatch_seq,
        worker=worker_name(),
        subscriber=subscriber,
    )
