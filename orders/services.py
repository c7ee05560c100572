"""Writes to orders: placing one, moving its status, recording its saga, counting outcomes."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal

from django.db import IntegrityError, transaction
from django.db.models import F

from eventhub.bus import current_flow
from eventhub.ids import timestamped_id
from inventory.selectors import product_prices

from .events import (
    OrderCreated,
    OrderedItem,
    OrderStatusUpdated,
    ShippingAddress,
    order_created,
    order_status_updated,
    store_pickup,
)
from .models import Order, OrderCount, OrderLine, SagaStep
from .selectors import TERMINAL

log = logging.getLogger(__name__)


class OrderError(Exception):
    """An order that cannot be placed; the message names the offending field."""


@dataclass(frozen=True)
class ItemInput:
    product_id: str
    quantity: int
    price: Decimal | None
    """What the client believes the price is; must equal the catalog's when given."""


def order_place(
    *, user_id: str, items: list[ItemInput], shipping_address: ShippingAddress | None = None
) -> Order:
    """Store a pending order at catalog prices, open its saga and announce ``order.created``.

    Without a shipping address the order is collected in store.
    """
    prices = product_prices(product_ids=[item.product_id for item in items])
    for index, item in enumerate(items):
        if item.product_id not in prices:
            raise OrderError(f"items[{index}].productId: unknown product {item.product_id!r}")
        if item.price is not None and item.price != prices[item.product_id]:
            raise OrderError(
                f"items[{index}].price: {item.price} differs from the catalog price "
                f"{prices[item.product_id].normalize():f}"
            )
    lines = [
        OrderedItem(product_id=i.product_id, quantity=i.quantity, price=prices[i.product_id])
        for i in items
    ]
    total = sum((line.price * line.quantity for line in lines), Decimal(0))
    address = shipping_address or store_pickup(user_id)
    with transaction.atomic():
        order = Order.objects.create(
            order_id=timestamped_id("ORD"),
            user_id=user_id,
            total_amount=total,
            shipping_address=address.as_json(),
            correlation_id=current_flow().correlation_id or "",
        )
        written_lines = OrderLine.objects.bulk_create(
            OrderLine(order=order, product_id=li.product_id, quantity=li.quantity, price=li.price)
            for li in lines
        )
        steps = SagaStep.objects.bulk_create(
            SagaStep(order=order, name=name, position=position)
            for position, name in enumerate(SagaStep.ORDER, start=1)
        )
        responses = order_created.send(
            sender=Order,
            event=OrderCreated(
                order_id=order.order_id,
                user_id=user_id,
                items=lines,
                total_amount=total,
                status=order.status,
                created_at=int(order.created_at.timestamp() * 1000),
                shipping_address=address,
            ),
        )
        if not order.correlation_id:
            order.correlation_id = order_created.recorded(responses).correlation_id
            order.save(update_fields=["correlation_id"])
    return _as_read(order, lines=written_lines, steps=steps)


def _as_read(order: Order, *, lines: list[OrderLine], steps: list[SagaStep]) -> Order:
    """The order as ``selectors.order_get`` returns it (lines and saga steps prefetched),
    from the rows just written, so that answering ``POST /orders`` reads nothing back.

    The related managers then serve these rows as Django's own ``prefetch_related`` would
    (a result cache on the related queryset); any further filtering queries the database.
    """
    order._prefetched_objects_cache = {}  # type: ignore[attr-defined]
    for name, rows in (("lines", lines), ("saga_steps", steps)):
        queryset = getattr(order, name).all()
        queryset._result_cache = list(rows)
        queryset._prefetch_done = True
        order._prefetched_objects_cache[name] = queryset  # type: ignore[attr-defined]
    return order


def order_status_set(*, order_id: str, status: str, reason: str = "") -> bool:
    """Move the order to ``status`` and announce it; False if nothing changed.

    A final status (confirmed, rejected, cancelled) is never left: a late event for a finished
    order is logged and ignored.
    """
    with transaction.atomic():
        order = Order.objects.select_for_update().get(pk=order_id)
        if order.status == status:
            return False
        if order.status in TERMINAL:
            log.warning("order %s is %s; ignoring a move to %s", order_id, order.status, status)
            return False
        previous = order.status
        order.status = status
        order.status_reason = reason[:200]
        order.save(update_fields=["status", "status_reason", "updated_at"])
        order_status_updated.send(
            sender=Order,
            event=OrderStatusUpdated(
                order_id=order_id,
                user_id=order.user_id,
                status=status,
                previous_status=previous,
                reason=reason,
            ),
        )
    return True


_STAMP = {
    SagaStep.State.DONE: "done_at",
    SagaStep.State.FAILED: "failed_at",
    SagaStep.State.COMPENSATED: "compensated_at",
}


def saga_step_record(
    *, order_id: str, step: str, state: str, at: datetime, detail: str = ""
) -> bool:
    """Stamp ``step`` of the order's saga as done, failed or compensated at ``at``.

    Each stamp is written once: a repeated or late event changes nothing, and events of one
    saga may be recorded in any order. Returns False if the stamp was already there.

    The order's missing steps are opened first (pending), as ``order_place`` opens them: a
    projection rebuilt by replaying the saga's events (its rows deleted) ends as it was.
    """
    field = _STAMP[SagaStep.State(state)]
    with transaction.atomic():
        SagaStep.objects.bulk_create(
            [
                SagaStep(order_id=order_id, name=name, position=position)
                for position, name in enumerate(SagaStep.ORDER, start=1)
            ],
            ignore_conflicts=True,
        )
        return bool(
            SagaStep.objects.filter(order_id=order_id, name=step, **{field: None}).update(
                **{field: at, "detail": detail[:200]}
            )
        )


def order_count_add(*, day: date, outcome: str) -> None:
    """Add one to the analytics counter of ``outcome`` on ``day``."""
    counts = OrderCount.objects.filter(day=day, outcome=outcome)
    if counts.update(count=F("count") + 1):
        return
    try:
        with transaction.atomic():
            OrderCount.objects.create(day=day, outcome=outcome, count=1)
    except IntegrityError:  # created concurrently: count on the row that won
        counts.update(count=F("count") + 1)
