"""Inventory's reactions to other services' events: reserve for a new order, release when
the payment fails or is refunded (the saga's compensation)."""

from eventhub.bus import Guarantee, Received, RetryPolicy, subscriber
from orders.events import OrderCreated
from orders.payments.events import PaymentFailed, PaymentRefunded

from .services import Line, stock_release, stock_reserve


@subscriber(
    "inventory.reserve_stock",
    on=OrderCreated,
    queue="inventory",
    guarantee=Guarantee.EFFECTIVELY_ONCE,
    retry=RetryPolicy(max_attempts=5),
)
def reserve_stock(event: Received[OrderCreated]) -> None:
    order = event.data
    stock_reserve(
        order_id=order.order_id,
        lines=[Line(item.product_id, item.quantity) for item in order.items],
        user_id=order.user_id,
        total_amount=order.total_amount,
        shipping_address=order.shipping_address,
    )


@subscriber(
    "inventory.release_stock",
    on=(PaymentFailed, PaymentRefunded),
    queue="inventory",
    guarantee=Guarantee.EFFECTIVELY_ONCE,
    retry=RetryPolicy(max_attempts=10),
)
def release_stock(event: Received[PaymentFailed | PaymentRefunded]) -> None:
    stock_release(order_id=event.data.order_id, reason=event.data.reason)
