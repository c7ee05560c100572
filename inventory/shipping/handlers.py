"""The shipping service's part in the order saga: ship once the payment is authorised, to
the items and address the payment event carries."""

from eventhub.bus import Guarantee, Received, subscriber
from orders.payments.events import PaymentAuthorized

from .services import Parcel, shipment_create


@subscriber(
    "shipping.create_shipment",
    on=PaymentAuthorized,
    queue="shipping",
    guarantee=Guarantee.EFFECTIVELY_ONCE,
)
def create_shipment(event: Received[PaymentAuthorized]) -> None:
    paid = event.data
    shipment_create(
        order_id=paid.order_id,
        parcels=[Parcel(item.product_id, item.quantity) for item in paid.items],
        address=paid.shipping_address,
    )
