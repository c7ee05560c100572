"""The order service's reactions: it follows its saga and ends the order.

The saga is a choreography (seed 7.2): each participant reacts to the previous one's event,
and a failure's compensations run in reverse as events of their own::

    order.created -> inventory.updated -> payment.authorized -> shipment.created -> confirmed
                                       -> payment.failed    -> inventory.released -> cancelled
                                          shipment.failed   -> payment.refunded
                                                            -> inventory.released -> cancelled
    order.created -> inventory.check.failed -> rejected

The order service records every step it hears of (``SagaStep``, the replayable projection
``record_saga_step``) and moves the order to its final status (``confirm_order``,
``reject_order``, ``cancel_order``, not replayable: they publish); it never commands the
participants.
"""

from __future__ import annotations

from datetime import UTC, datetime

from eventhub.bus import Guarantee, Received, subscriber
from inventory.events import InventoryCheckFailed, InventoryReleased, InventoryUpdated
from inventory.shipping.events import ShipmentCreated, ShipmentFailed
from orders.payments.events import PaymentAuthorized, PaymentFailed, PaymentRefunded

from .events import OrderStatusUpdated
from .models import Order, OrderCount, SagaStep
from .services import order_count_add, order_status_set, saga_step_record

Step = SagaStep.Name
State = SagaStep.State


def _at(event: Received) -> datetime:
    return datetime.fromtimestamp(event.timestamp / 1000, tz=UTC)


def units(count: int) -> str:
    """``1 unit``, ``3 units``: the count in a step's detail, read by people."""
    return f"{count} unit" if count == 1 else f"{count} units"


def _step_of(data: object) -> tuple[str, str, str]:
    """The saga step an event reports on, what became of it, and its detail."""
    match data:
        case InventoryUpdated():
            reserved = sum(item.quantity for item in data.items)
            return Step.RESERVE_STOCK, State.DONE, f"{units(reserved)} reserved"
        case InventoryCheckFailed():
            return (
                Step.RESERVE_STOCK,
                State.FAILED,
                f"{data.reason}: {data.product_id} "
                f"(available {data.available}, requested {data.requested})",
            )
        case InventoryReleased():
            released = sum(item.quantity for item in data.items)
            return Step.RESERVE_STOCK, State.COMPENSATED, f"{units(released)} released"
        case PaymentAuthorized():
            return Step.AUTHORIZE_PAYMENT, State.DONE, f"{data.payment_id}: {data.amount}"
        case PaymentFailed():
            return Step.AUTHORIZE_PAYMENT, State.FAILED, data.reason
        case PaymentRefunded():
            return Step.AUTHORIZE_PAYMENT, State.COMPENSATED, f"refunded {data.payment_id}"
        case ShipmentCreated():
            return (
                Step.CREATE_SHIPMENT,
                State.DONE,
                f"{data.shipment_id}: {units(data.units)} to {data.country}",
            )
        case ShipmentFailed():
            return Step.CREATE_SHIPMENT, State.FAILED, data.reason
    raise TypeError(f"{type(data).__name__} is not a saga step event")


@subscriber(
    "orders.record_saga_step",
    on=(
        InventoryUpdated,
        InventoryCheckFailed,
        InventoryReleased,
        PaymentAuthorized,
        PaymentFailed,
        PaymentRefunded,
        ShipmentCreated,
        ShipmentFailed,
    ),
    queue="orders",
    guarantee=Guarantee.EFFECTIVELY_ONCE,
    replayable=True,
)
def record_saga_step(event: Received) -> None:
    """The saga's projection: every step event stamps its step, and nothing else happens.

    Replayable: its rows (``SagaStep``) follow from the saga's events alone, so an operator
    may rebuild them by replaying a flow (``manage.py eventhub_replay``).
    """
    step, state, detail = _step_of(event.data)
    saga_step_record(
        order_id=event.data.order_id, step=step, state=state, at=_at(event), detail=detail
    )


@subscriber(
    "orders.confirm_order",
    on=ShipmentCreated,
    queue="orders",
    guarantee=Guarantee.EFFECTIVELY_ONCE,
)
def confirm_order(event: Received[ShipmentCreated]) -> None:
    order_status_set(order_id=event.data.order_id, status=Order.Status.CONFIRMED)


@subscriber(
    "orders.reject_order",
    on=InventoryCheckFailed,
    queue="orders",
    guarantee=Guarantee.EFFECTIVELY_ONCE,
)
def reject_order(event: Received[InventoryCheckFailed]) -> None:
    failed = event.data
    reason = (
        f"{failed.reason}: {failed.product_id} "
        f"(available {failed.available}, requested {failed.requested})"
    )
    order_status_set(order_id=failed.order_id, status=Order.Status.REJECTED, reason=reason)


@subscriber(
    "orders.cancel_order",
    on=InventoryReleased,
    queue="orders",
    guarantee=Guarantee.EFFECTIVELY_ONCE,
)
def cancel_order(event: Received[InventoryReleased]) -> None:
    released = event.data
    order_status_set(
        order_id=released.order_id, status=Order.Status.CANCELLED, reason=released.reason
    )


@subscriber(
    "orders.count_outcomes",
    on=OrderStatusUpdated,
    queue="orders",
    guarantee=Guarantee.AT_MOST_ONCE,
)
def count_outcomes(event: Received[OrderStatusUpdated]) -> None:
    """Analytics: orders finished per day and outcome. A lost count is acceptable, a doubled
    one is not, so it is tried once."""
    if event.data.status in OrderCount.Outcome.values:
        order_count_add(day=_at(event).date(), outcome=event.data.status)
