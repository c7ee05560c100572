"""The payment service's part in the order saga: authorise once stock is reserved, refund
when the shipment fails."""

from eventhub.bus import Guarantee, NonRetryableError, Received, subscriber
from inventory.events import InventoryUpdated
from inventory.shipping.events import ShipmentFailed
from orders.selectors import order_get

from .services import payment_authorize, payment_refund


@subscriber(
    "payments.authorize_payment",
    on=InventoryUpdated,
    queue="payments",
    guarantee=Guarantee.EFFECTIVELY_ONCE,
)
def authorize_payment(event: Received[InventoryUpdated]) -> None:
    order = order_get(order_id=event.data.order_id)
    if order is None:
        raise NonRetryableError(f"order {event.data.order_id} does not exist")
    payment_authorize(order_id=order.order_id, amount=order.total_amount)


@subscriber(
    "payments.refund_payment",
    on=ShipmentFailed,
    queue="payments",
    guarantee=Guarantee.EFFECTIVELY_ONCE,
)
def refund_payment(event: Received[ShipmentFailed]) -> None:
    payment_refund(order_id=event.data.order_id, reason=event.data.reason)
