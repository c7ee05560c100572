"""The shipping service's part in the order saga: ship once the payment is authorised."""

from eventhub.bus import Guarantee, NonRetryableError, Received, subscriber
from orders.payments.events import PaymentAuthorized
from orders.selectors import order_get, order_shipping_address

from .services import Parcel, shipment_create


@subscriber(
    "shipping.create_shipment",
    on=PaymentAuthorized,
    queue="shipping",
    guarantee=Guarantee.EFFECTIVELY_ONCE,
)
def create_shipment(event: Received[PaymentAuthorized]) -> None:
    order = order_get(order_id=event.data.order_id)
    if order is None:
        raise NonRetryableError(f"order {event.data.order_id} does not exist")
    shipment_create(
        order_id=order.order_id,
        parcels=[Parcel(line.product_id, line.quantity) for line in order.lines.all()],
        address=order_shipping_address(order),
    )
