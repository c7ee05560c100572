"""Mails to the shopper at each step of the order flow (seed 4.3.4 plus the final outcome).

Whom to mail comes in each event (``userId``): notifications never read the order's rows.
"""

import logging

from eventhub.bus import Guarantee, Received, subscriber
from inventory.events import InventoryCheckFailed, InventoryUpdated
from orders.events import OrderCreated, OrderStatusUpdated

from .models import Notification
from .services import StatusChange, notification_send, order_status_apply

log = logging.getLogger(__name__)
FINAL_STATUSES = {"confirmed", "rejected", "cancelled"}


@subscriber(
    "notifications.order_confirmation",
    on=OrderCreated,
    queue="notifications",
    guarantee=Guarantee.EFFECTIVELY_ONCE,
)
def send_order_confirmation(event: Received[OrderCreated]) -> None:
    order = event.data
    address = order.shipping_address
    notification_send(
        kind=Notification.Kind.ORDER_CONFIRMATION,
        order_id=order.order_id,
        event_id=event.event_id,
        user_id=order.user_id,
        subject=f"Order received - {order.order_id}",
        body=f"Your order {order.order_id} was created; total amount {order.total_amount}.\n"
        f"Ship to: {address.name}, {address.line1}, {address.postal_code} {address.city}, "
        f"{address.country}.",
    )


@subscriber(
    "notifications.stock_confirmed",
    on=InventoryUpdated,
    queue="notifications",
    guarantee=Guarantee.EFFECTIVELY_ONCE,
)
def send_stock_confirmed(event: Received[InventoryUpdated]) -> None:
    reserved = event.data
    order_id = reserved.order_id
    notification_send(
        kind=Notification.Kind.STOCK_CONFIRMED,
        order_id=order_id,
        event_id=event.event_id,
        user_id=reserved.user_id,
        subject=f"Order {order_id}: stock confirmed",
        body="Every item of your order is reserved for you.",
    )


@subscriber(
    "notifications.stock_failure",
    on=InventoryCheckFailed,
    queue="notifications",
    guarantee=Guarantee.EFFECTIVELY_ONCE,
)
def send_stock_failure(event: Received[InventoryCheckFailed]) -> None:
    failed = event.data
    notification_send(
        kind=Notification.Kind.STOCK_FAILURE,
        order_id=failed.order_id,
        event_id=event.event_id,
        user_id=failed.user_id,
        subject=f"Order {failed.order_id}: not enough stock",
        body=f"We could not reserve {failed.product_id}: {failed.reason} "
        f"(available {failed.available}, requested {failed.requested}).",
    )


@subscriber(
    "notifications.order_outcome",
    on=OrderStatusUpdated,
    queue="notifications",
    guarantee=Guarantee.EFFECTIVELY_ONCE,
)
def send_order_outcome(event: Received[OrderStatusUpdated]) -> None:
    """Track the order's status; mail the final outcome unless a newer status was seen."""
    update = event.data
    applied = order_status_apply(
        change=StatusChange(
            order_id=update.order_id,
            user_id=update.user_id,
            status=update.status,
            previous_status=update.previous_status,
            reason=update.reason,
            sequence=event.sequence,
            event_id=event.event_id,
        )
    )
    if not applied:
        log.info(
            "order %s: %s at sequence %s is stale", update.order_id, update.status, event.sequence
        )
        return
    if update.status not in FINAL_STATUSES:
        return
    notification_send(
        kind=Notification.Kind.ORDER_OUTCOME,
        order_id=update.order_id,
        event_id=event.event_id,
        user_id=update.user_id,
        subject=f"Order {update.order_id} is {update.status}",
        body=f"Your order is now {update.status}."
        + (f" Reason: {update.reason}" if update.reason else ""),
    )
