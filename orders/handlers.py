"""The order service's reactions: stock reserved confirms, a failed check rejects."""

from eventhub.bus import Guarantee, Received, subscriber
from inventory.events import InventoryCheckFailed, InventoryUpdated

from .models import Order
from .services import order_status_set


@subscriber(
    "orders.confirm_order",
    on=InventoryUpdated,
    queue="orders",
    guarantee=Guarantee.EFFECTIVELY_ONCE,
)
def confirm_order(event: Received[InventoryUpdated]) -> None:
    order_status_set(order_id=event.data.order_id, status=Order.Status.CONFIRMED)


@subscriber(
    "orders.reject_order",
    on=InventoryCheckFailed,
    queue="orders",
    guarantee=Guarantee.EFFECTIVELY_ONCE,
)
def reject_order(event: Received[InventoryCheckFailed]) -> None:
    failed = event.data
    order_status_set(
        order_id=failed.order_id,
        status=Order.Status.REJECTED,
        reason=f"{failed.reason}: {failed.product_id} "
        f"(available {failed.available}, requested {failed.requested})",
    )
