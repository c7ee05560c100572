"""Reads of orders and their sagas."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.db.models import QuerySet

from .events import ShippingAddress, store_pickup
from .models import Order, SagaStep

TERMINAL = {Order.Status.CONFIRMED, Order.Status.REJECTED, Order.Status.CANCELLED}


def order_list(*, user_id: str | None = None, status: str | None = None) -> QuerySet[Order]:
    orders = Order.objects.prefetch_related("lines", "saga_steps").order_by(
        "-created_at", "-order_id"
    )
    if user_id:
        orders = orders.filter(user_id=user_id)
    if status:
        orders = orders.filter(status=status)
    return orders


def order_get(*, order_id: str) -> Order | None:
    return Order.objects.prefetch_related("lines", "saga_steps").filter(order_id=order_id).first()


def order_shipping_address(order: Order) -> ShippingAddress:
    """Where the order goes; orders from before addresses existed are collected in store."""
    if not order.shipping_address:
        return store_pickup(order.user_id)
    return ShippingAddress.from_json(order.shipping_address)


@dataclass(frozen=True)
class StepView:
    name: str
    state: str
    done_at: datetime | None
    failed_at: datetime | None
    compensated_at: datetime | None
    detail: str


@dataclass(frozen=True)
class SagaView:
    status: str
    """running, compensating, completed, compensated or failed (nothing to compensate)."""
    steps: list[StepView]


def order_saga(order: Order) -> SagaView:
    """The order's saga: each step's state with its timestamps, and where the saga stands."""
    finished = order.status in TERMINAL
    steps = []
    for step in sorted(order.saga_steps.all(), key=lambda s: s.position):
        state = step.state
        if state == SagaStep.State.PENDING and finished:
            state = SagaStep.State.SKIPPED
        steps.append(
            StepView(
                name=step.name,
                state=state,
                done_at=step.done_at,
                failed_at=step.failed_at,
                compensated_at=step.compensated_at,
                detail=step.detail,
            )
        )
    if order.status == Order.Status.CONFIRMED:
        status = "completed"
    elif order.status == Order.Status.CANCELLED:
        status = "compensated"
    elif order.status == Order.Status.REJECTED:
        status = "failed"
    elif any(s.state in (SagaStep.State.FAILED, SagaStep.State.COMPENSATED) for s in steps):
        status = "compensating"
    else:
        status = "running"
    return SagaView(status=status, steps=steps)
