"""Inventory's reactions to other services' events."""

from eventhub.bus import Guarantee, Received, RetryPolicy, subscriber
from orders.events import OrderCreated

from .services import Line, stock_reserve


@subscriber(
    "inventory.reserve_stock",
    on=OrderCreated,
    queue="inventory",
    guarantee=Guarantee.EFFECTIVELY_ONCE,
    retry=RetryPolicy(max_attempts=5),
)
def reserve_stock(event: Received[OrderCreated]) -> None:
    stock_reserve(
        order_id=event.data.order_id,
        lines=[Line(item.product_id, item.quantity) for item in event.data.items],
    )
