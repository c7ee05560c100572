"""The seed's order endpoints: ``POST /orders``, ``GET /orders``, ``GET /orders/<id>``."""

from __future__ import annotations

import math
from decimal import Decimal
from typing import Any

from django.http import HttpRequest, JsonResponse

from eventhub.http import (
    BadRequest,
    OffsetPage,
    api_view,
    failure,
    json_body,
    success,
    text_param,
)
from eventhub.json_numbers import json_number

from .events import ShippingAddress
from .models import Order
from .selectors import SagaView, order_get, order_list, order_saga, order_shipping_address
from .services import ItemInput, OrderError, order_place

MAX_ITEMS = 50
MAX_QUANTITY = 1000
MAX_USER_ID_LENGTH = 64
MAX_ORDER_ID_LENGTH = Order._meta.get_field("order_id").max_length
MAX_PRODUCT_ID_LENGTH = 64
ADDRESS_FIELDS = {  # wire name: (attribute, maximum length)
    "name": ("name", 100),
    "line1": ("line1", 200),
    "city": ("city", 100),
    "postalCode": ("postal_code", 20),
    "country": ("country", 2),
}


def _ms(moment: Any) -> int:
    return int(moment.timestamp() * 1000)


def _ms_or_none(moment: Any) -> int | None:
    return None if moment is None else _ms(moment)


def saga_json(saga: SagaView) -> dict[str, Any]:
    return {
        "status": saga.status,
        "steps": [
            {
                "step": step.name,
                "state": step.state,
                "doneAt": _ms_or_none(step.done_at),
                "failedAt": _ms_or_none(step.failed_at),
                "compensatedAt": _ms_or_none(step.compensated_at),
                "detail": step.detail,
            }
            for step in saga.steps
        ],
    }


def order_json(order: Order) -> dict[str, Any]:
    return {
        "orderId": order.order_id,
        "userId": order.user_id,
        "items": [
            {"productId": li.product_id, "quantity": li.quantity, "price": json_number(li.price)}
            for li in order.lines.all()
        ],
        "totalAmount": json_number(order.total_amount),
        "status": order.status,
        "statusReason": order.status_reason,
        "correlationId": order.correlation_id,
        "createdAt": _ms(order.created_at),
        "updatedAt": _ms(order.updated_at),
        "shippingAddress": order_shipping_address(order).as_json(),
        "saga": saga_json(order_saga(order)),
    }


def parse_shipping_address(body: dict[str, Any]) -> ShippingAddress | None:
    """The optional ``shippingAddress`` of an order request, or BadRequest naming the field.

    Left out (or null), the order is collected in store.
    """
    address = body.get("shippingAddress")
    if address is None:
        return None
    if not isinstance(address, dict):
        raise BadRequest("shippingAddress: must be an object")
    values: dict[str, str] = {}
    for key, (attribute, max_length) in ADDRESS_FIELDS.items():
        field = f"shippingAddress.{key}"
        value = address.get(key)
        if not isinstance(value, str) or not value.strip():
            raise BadRequest(f"{field}: must be a non-empty string")
        value = value.strip()
        if not value.isprintable():
            raise BadRequest(f"{field}: must not contain control characters")
        if len(value) > max_length:
            raise BadRequest(f"{field}: must be at most {max_length} characters")
        values[attribute] = value
    country = values["country"]
    if len(country) != 2 or not (country.isascii() and country.isalpha()):
        raise BadRequest("shippingAddress.country: must be a two-letter country code, e.g. CN")
    unknown = sorted(set(address) - set(ADDRESS_FIELDS))
    if unknown:
        raise BadRequest(f"shippingAddress.{unknown[0]}: is not a known field")
    return ShippingAddress(**{**values, "country": values["country"].upper()})


def parse_order(body: Any) -> tuple[str, list[ItemInput]]:
    """The order request as typed input, or BadRequest naming the first faulty field."""
    if not isinstance(body, dict):
        raise BadRequest("body: must be a JSON object")
    user_id = body.get("userId")
    if user_id is None:
        raise BadRequest("userId: is required")
    if not isinstance(user_id, str) or not user_id.strip():
        raise BadRequest("userId: must be a non-empty string")
    if not user_id.isprintable():
        raise BadRequest("userId: must not contain control characters")
    if len(user_id) > MAX_USER_ID_LENGTH:
        raise BadRequest(f"userId: must be at most {MAX_USER_ID_LENGTH} characters")
    items = body.get("items")
    if items is None:
        raise BadRequest("items: is required")
    if not isinstance(items, list):
        raise BadRequest("items: must be an array")
    if not items:
        raise BadRequest("items: must not be empty")
    if len(items) > MAX_ITEMS:
        raise BadRequest(f"items: must have at most {MAX_ITEMS} entries")
    parsed: list[ItemInput] = []
    seen: set[str] = set()
    for index, item in enumerate(items):
        field = f"items[{index}]"
        if not isinstance(item, dict):
            raise BadRequest(f"{field}: must be an object")
        product_id = item.get("productId")
        if not isinstance(product_id, str) or not product_id:
            raise BadRequest(f"{field}.productId: must be a non-empty string")
        if not product_id.isprintable():
            raise BadRequest(f"{field}.productId: must not contain control characters")
        if len(product_id) > MAX_PRODUCT_ID_LENGTH:
            raise BadRequest(
                f"{field}.productId: must be at most {MAX_PRODUCT_ID_LENGTH} characters"
            )
        if product_id in seen:
            raise BadRequest(f"{field}.productId: {product_id!r} appears more than once")
        seen.add(product_id)
        quantity = item.get("quantity")
        if (
            isinstance(quantity, bool)
            or not isinstance(quantity, int)
            or not 1 <= quantity <= MAX_QUANTITY
        ):
            raise BadRequest(f"{field}.quantity: must be an integer from 1 to {MAX_QUANTITY}")
        price = item.get("price")
        if price is not None and (
            isinstance(price, bool)
            or not isinstance(price, int | float)
            or not math.isfinite(price)
            or price < 0
        ):
            raise BadRequest(f"{field}.price: must be a non-negative number")
        parsed.append(
            ItemInput(product_id, quantity, None if price is None else Decimal(str(price)))
        )
    return user_id, parsed


@api_view("GET", "POST")
def orders(request: HttpRequest) -> JsonResponse:
    if request.method == "POST":
        return _place(request)
    page = OffsetPage.of(request, default=50, maximum=500)
    status = request.GET.get("status") or None
    if status is not None and status not in Order.Status.values:
        raise BadRequest(f"status: must be one of {', '.join(Order.Status.values)}")
    user_id = text_param(request, "userId", max_length=MAX_USER_ID_LENGTH)
    return page.respond(order_list(user_id=user_id, status=status), order_json)


def _place(request: HttpRequest) -> JsonResponse:
    body = json_body(request)
    user_id, items = parse_order(body)
    address = parse_shipping_address(body)
    try:
        order = order_place(user_id=user_id, items=items, shipping_address=address)
    except OrderError as exc:
        raise BadRequest(str(exc)) from None
    # order_place hands back the rows it wrote, as order_get would read them: no read-back.
    return success(order_json(order), status=201, message="Order created; processing has started")


@api_view("GET")
def order_detail(request: HttpRequest, order_id: str) -> JsonResponse:
    if not order_id.isprintable() or len(order_id) > MAX_ORDER_ID_LENGTH:
        return failure("Order not found", 404)  # no order has such an id (NUL: see nul_guard)
    order = order_get(order_id=order_id)
    if order is None:
        return failure("Order not found", 404)
    return success(order_json(order))
