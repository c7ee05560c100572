"""The payment service's part in the order saga: authorise once stock is reserved, refund
when the shipment fails. Everything it needs comes in the events."""

from eventhub.bus import Guarantee, Received, subscriber
from inventory.events import InventoryUpdated
from inventory.shipping.events import ShipmentFailed

from .events import PaidItem
from .services import payment_authorize, payment_refund


@subscriber(
    "payments.authorize_payment",
    on=InventoryUpdated,
    queue="payments",
    guarantee=Guarantee.EFFECTIVELY_ONCE,
)
def authorize_payment(event: Received[InventoryUpdated]) -> None:
    reserved = event.data
    payment_authorize(
        order_id=reserved.order_id,
        amount=reserved.total_amount,
        items=[PaidItem(item.product_id, item.quantity) for item in reserved.items],
        shipping_address=reserved.shipping_address,
    )


@subscriber(
    "payments.refund_payment",
    on=ShipmentFailed,
    queue="payments",
    guarantee=Guarantee.EFFECTIVELY_ONCE,
)
def refund_payment(event: Received[ShipmentFailed]) -> None:
    payment_refund(order_id=event.data.order_id, reason=event.data.reason)
