"""The naive peer: what a user would build instead of the bus, measured beside it (issue 11).

- ``eventhub.naive`` is a plain Celery task per event (the options of the delivery task: acks
  late, rejected on worker loss, no result) that writes, in autocommit, the three rows the
  bus leaves for one delivery to the no-op subscriber: the event, its delivery (succeeded)
  and the attempt. No outbox, no claim, no fencing, no idempotency record: three INSERTs.
- ``naive_order_place`` is a plain Django view for ``POST /bench/naive/orders``: the rows
  ``POST /orders`` writes for the order itself (the order, its lines, its saga steps) in one
  transaction, then ``delay_on_commit`` of one plain task; no outbox, no event, no read-back.

Only the benchmark loads this module: its tasks through the bench plugin, its view through
``eventhub.devtools.bench.urls`` (``EVENTHUB_ROOT_URLCONF``, set by ``bin/bench`` alone). It
reads the order models from the app registry by label, so eventhub still imports no business
app.
"""

from __future__ import annotations

import json
import secrets
import time
import uuid
from decimal import Decimal
from typing import Any

from celery import shared_task
from django.apps import apps
from django.db import transaction
from django.http import HttpRequest, JsonResponse
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from eventhub.models import Attempt, Delivery, Event

NAIVE_TASK = "eventhub.naive"
NAIVE_ORDER_TASK = "eventhub.naive_order"
SUBSCRIBER = "bench.naive"
EVENT_TYPE = "bench.naive"


@shared_task(name=NAIVE_TASK, acks_late=True, reject_on_worker_lost=True, ignore_result=True)
def naive(run_id: str, number: int, sent_at: float) -> None:
    """One event's three writes, each its own autocommit statement."""
    now = timezone.now()
    event = Event.objects.create(
        event_type=EVENT_TYPE,
        version=1,
        source="benchmark",
        aggregate_type="bench",
        aggregate_id=f"{run_id}-{number}",
        sequence=1,
        timestamp=int(sent_at * 1000),
        data={"runId": run_id, "number": number},
        correlation_id=run_id,
    )
    delivery = Delivery.objects.create(
        event=event,
        subscriber=SUBSCRIBER,
        queue="bench",
        guarantee="at-least-once",
        status=Delivery.Status.SUCCEEDED,
        attempts=1,
        max_attempts=1,
        next_attempt_at=now,
    )
    Attempt.objects.create(
        delivery=delivery,
        number=1,
        worker="naive",
        started_at=now,
        finished_at=timezone.now(),
        outcome=Attempt.Outcome.SUCCEEDED,
    )


@shared_task(name=NAIVE_ORDER_TASK, acks_late=True, reject_on_worker_lost=True, ignore_result=True)
def naive_order(order_id: str) -> None:
    """The naive order's follow-up: its first saga step done (one UPDATE)."""
    saga_step = apps.get_model("orders", "SagaStep")
    saga_step.objects.filter(order_id=order_id, position=1).update(done_at=timezone.now())


def naive_runs(run_id: str) -> Any:
    """The deliveries the naive task wrote for one run."""
    return Delivery.objects.filter(subscriber=SUBSCRIBER, event__correlation_id=run_id)


@csrf_exempt
@require_POST
def naive_order_place(request: HttpRequest) -> JsonResponse:
    """``POST /orders`` as a plain view: same rows for the order, a task on commit, 201."""
    try:
        body = json.loads(request.body)
        user_id = str(body["userId"])
        items = [(str(i["productId"]), int(i["quantity"])) for i in body["items"]]
    except (ValueError, KeyError, TypeError) as exc:
        return JsonResponse({"error": f"bad body: {exc}"}, status=400)
    order_model = apps.get_model("orders", "Order")
    line_model = apps.get_model("orders", "OrderLine")
    step_model = apps.get_model("orders", "SagaStep")
    product_model = apps.get_model("inventory", "Product")
    prices = dict(
        product_model.objects.filter(product_id__in=[p for p, _ in items]).values_list(
            "product_id", "price"
        )
    )
    if missing := [p for p, _ in items if p not in prices]:
        return JsonResponse({"error": f"items: unknown product {missing[0]!r}"}, status=400)
    order_id = f"NAIVE-{int(time.time() * 1000)}-{secrets.token_hex(3).upper()}"
    with transaction.atomic():
        order_model.objects.create(
            order_id=order_id,
            user_id=user_id,
            total_amount=sum((prices[p] * q for p, q in items), Decimal(0)),
            correlation_id=request.headers.get("X-Correlation-ID") or uuid.uuid4().hex,
        )
        line_model.objects.bulk_create(
            line_model(order_id=order_id, product_id=p, quantity=q, price=prices[p])
            for p, q in items
        )
        step_model.objects.bulk_create(
            step_model(order_id=order_id, name=name, position=position)
            for position, name in enumerate(step_model.ORDER, start=1)
        )
        naive_order.delay_on_commit(order_id)
    return JsonResponse({"orderId": order_id, "status": "pending"}, status=201)
