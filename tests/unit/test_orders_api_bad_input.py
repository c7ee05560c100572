"""POST /orders and GET /orders/<id> (R7): bad input is a named 400 that writes nothing."""

from __future__ import annotations

import copy
import io
import json
import re
import uuid
from typing import Any

import pytest
from django.conf import settings
from django.core.handlers.asgi import ASGIRequest
from django.test import Client

from eventhub.bus import subscribers
from eventhub.models import AggregateSequence, Delivery, Event
from orders import api as orders_api
from orders.api import MAX_ITEMS, MAX_PRODUCT_ID_LENGTH, MAX_QUANTITY, MAX_USER_ID_LENGTH
from orders.models import Order, OrderLine

pytestmark = pytest.mark.django_db

LIMIT = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
UUID_RE = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")

SEED_ORDER: dict[str, Any] = {
    "userId": "user-123",
    "items": [
        {"productId": "PROD-001", "quantity": 2, "price": 6999},
        {"productId": "PROD-003", "quantity": 1, "price": 1999},
    ],
}

_DROP = object()


def order(**fields: Any) -> dict[str, Any]:
    """The seed order with top-level fields replaced (``_DROP`` removes one)."""
    body = copy.deepcopy(SEED_ORDER)
    for key, value in fields.items():
        if value is _DROP:
            body.pop(key)
        else:
            body[key] = value
    return body


def first_item(**fields: Any) -> dict[str, Any]:
    """The seed order with fields of its first item replaced (``_DROP`` removes one)."""
    body = copy.deepcopy(SEED_ORDER)
    item = body["items"][0]
    for key, value in fields.items():
        if value is _DROP:
            item.pop(key)
        else:
            item[key] = value
    return body


def one_item(**item: Any) -> dict[str, Any]:
    return {"userId": "user-123", "items": [item]}


def written() -> dict[str, int]:
    return {
        "orders": Order.objects.count(),
        "lines": OrderLine.objects.count(),
        "events": Event.objects.count(),
        "deliveries": Delivery.objects.count(),
        "sequences": AggregateSequence.objects.count(),
    }


def post(client: Client, body: Any, **headers: str) -> Any:
    raw = body if isinstance(body, str | bytes) else json.dumps(body)
    # CONTENT_TYPE again: for an empty body the test client would leave the header out (415).
    return client.post(
        "/orders",
        raw,
        content_type="application/json",
        headers=headers,
        CONTENT_TYPE="application/json",
    )


def assert_failure(response: Any, status: int, field: str) -> str:
    """The seed's failure shape, exactly, with an error that starts by naming ``field``."""
    assert response.status_code == status, response.content
    assert response["Content-Type"] == "application/json"
    body = json.loads(response.content)
    assert set(body) == {"success", "error"}, body
    assert body["success"] is False
    assert isinstance(body["error"], str)
    assert body["error"].startswith(f"{field}:"), body["error"]
    return body["error"]


@pytest.fixture
def client() -> Client:
    # A product 500 must show up as a 500 response, so that the assertion names the case.
    return Client(raise_request_exception=False)


# --- 400s -----------------------------------------------------------------------------------

NOT_JSON = [
    pytest.param("not json", id="plain-text"),
    pytest.param("", id="empty-body"),
    pytest.param('{"userId": "user-123", "items": [', id="truncated-object"),
    pytest.param("{'userId': 'user-123'}", id="single-quoted"),
    pytest.param(b"\xff\xfe\xfa", id="not-utf8"),
    pytest.param(
        "[" * 20_000,
        id="deeply-nested-array",
    ),
]


@pytest.mark.parametrize("raw", NOT_JSON)
def test_a_body_that_is_not_json_is_rejected_naming_the_body(client: Client, raw: Any) -> None:
    before = written()
    assert_failure(post(client, raw), 400, "body")
    assert written() == before


NOT_AN_OBJECT = [
    pytest.param("[]", id="empty-array"),
    pytest.param(json.dumps([SEED_ORDER]), id="array-of-orders"),
    pytest.param('"an order"', id="string"),
    pytest.param("42", id="integer"),
    pytest.param("4.2", id="float"),
    pytest.param("null", id="null"),
    pytest.param("true", id="boolean"),
]


@pytest.mark.parametrize("raw", NOT_AN_OBJECT)
def test_json_that_is_not_an_object_is_rejected_naming_the_body(client: Client, raw: str) -> None:
    before = written()
    error = assert_failure(post(client, raw), 400, "body")
    assert "object" in error
    assert written() == before


BAD_ORDERS = [
    # userId
    pytest.param(order(userId=_DROP), "userId", id="userId-missing"),
    pytest.param(order(userId=None), "userId", id="userId-null"),
    pytest.param(order(userId=""), "userId", id="userId-empty"),
    pytest.param(order(userId="   "), "userId", id="userId-blank"),
    pytest.param(order(userId=123), "userId", id="userId-number"),
    pytest.param(order(userId=True), "userId", id="userId-boolean"),
    pytest.param(order(userId=["user-123"]), "userId", id="userId-array"),
    pytest.param(order(userId={"id": "user-123"}), "userId", id="userId-object"),
    pytest.param(order(userId="u" * (MAX_USER_ID_LENGTH + 1)), "userId", id="userId-too-long"),
    # items
    pytest.param(order(items=_DROP), "items", id="items-missing"),
    pytest.param(order(items=None), "items", id="items-null"),
    pytest.param(order(items=[]), "items", id="items-empty"),
    pytest.param(order(items="PROD-001"), "items", id="items-string"),
    pytest.param(order(items={"productId": "PROD-001", "quantity": 1}), "items", id="items-object"),
    pytest.param(order(items=3), "items", id="items-number"),
    pytest.param(
        order(items=[{"productId": f"P-{i}", "quantity": 1} for i in range(MAX_ITEMS + 1)]),
        "items",
        id="items-too-many",
    ),
    # an item that is not an object
    pytest.param(order(items=[1]), "items[0]", id="item-number"),
    pytest.param(order(items=["PROD-001"]), "items[0]", id="item-string"),
    pytest.param(order(items=[None]), "items[0]", id="item-null"),
    pytest.param(order(items=[["PROD-001", 1]]), "items[0]", id="item-array"),
    pytest.param(
        order(items=[SEED_ORDER["items"][0], "PROD-003"]), "items[1]", id="second-item-string"
    ),
    # productId
    pytest.param(first_item(productId=_DROP), "items[0].productId", id="productId-missing"),
    pytest.param(first_item(productId=""), "items[0].productId", id="productId-empty"),
    pytest.param(first_item(productId=1), "items[0].productId", id="productId-number"),
    pytest.param(
        first_item(productId="P" * (MAX_PRODUCT_ID_LENGTH + 1)),
        "items[0].productId",
        id="productId-too-long",
    ),
    pytest.param(first_item(productId="PROD-999"), "items[0].productId", id="productId-unknown"),
    pytest.param(
        order(items=[{"productId": "PROD-001", "quantity": 1}] * 2),
        "items[1].productId",
        id="productId-repeated",
    ),
    # quantity
    pytest.param(first_item(quantity=0), "items[0].quantity", id="quantity-zero"),
    pytest.param(first_item(quantity=-1), "items[0].quantity", id="quantity-negative"),
    pytest.param(first_item(quantity=1.5), "items[0].quantity", id="quantity-fraction"),
    pytest.param(first_item(quantity=2.0), "items[0].quantity", id="quantity-float-2.0"),
    pytest.param(first_item(quantity="2"), "items[0].quantity", id="quantity-string"),
    pytest.param(first_item(quantity=True), "items[0].quantity", id="quantity-true"),
    pytest.param(first_item(quantity=False), "items[0].quantity", id="quantity-false"),
    pytest.param(first_item(quantity=None), "items[0].quantity", id="quantity-null"),
    pytest.param(first_item(quantity=_DROP), "items[0].quantity", id="quantity-missing"),
    pytest.param(
        first_item(quantity=MAX_QUANTITY + 1), "items[0].quantity", id="quantity-above-max"
    ),
    pytest.param(first_item(quantity=10**30), "items[0].quantity", id="quantity-huge"),
    # price
    pytest.param(first_item(price=6998), "items[0].price", id="price-below-catalog"),
    pytest.param(first_item(price=7000), "items[0].price", id="price-above-catalog"),
    pytest.param(first_item(price=6999.01), "items[0].price", id="price-off-by-a-cent"),
    pytest.param(first_item(price=0), "items[0].price", id="price-zero"),
    pytest.param(first_item(price=-6999), "items[0].price", id="price-negative"),
    pytest.param(first_item(price="6999"), "items[0].price", id="price-string"),
    pytest.param(first_item(price=True), "items[0].price", id="price-boolean"),
    pytest.param(first_item(price=[6999]), "items[0].price", id="price-array"),
    pytest.param(
        order(items=[SEED_ORDER["items"][0], {"productId": "PROD-003", "quantity": 1, "price": 1}]),
        "items[1].price",
        id="second-item-price-differs",
    ),
]


@pytest.mark.parametrize(("body", "field"), BAD_ORDERS)
def test_bad_order_is_rejected_naming_the_field_and_writes_nothing(
    client: Client, body: dict[str, Any], field: str
) -> None:
    before = written()
    assert_failure(post(client, body), 400, field)
    assert written() == before


@pytest.mark.parametrize(
    "literal", [pytest.param("NaN", id="NaN"), pytest.param("Infinity", id="Infinity")]
)
def test_a_non_finite_price_is_rejected_naming_the_price(client: Client, literal: str) -> None:
    # Python's json module accepts these non-standard literals; the API must not.
    raw = '{"userId": "user-123", "items": [{"productId": "PROD-001", "quantity": 1, "price": %s}]}'
    before = written()
    assert_failure(post(client, raw % literal), 400, "items[0].price")
    assert written() == before


def test_a_price_that_differs_from_the_catalog_names_the_catalog_price(client: Client) -> None:
    error = assert_failure(post(client, first_item(price=1)), 400, "items[0].price")
    assert "6999" in error


def test_an_unknown_product_is_named_in_the_error(client: Client) -> None:
    error = assert_failure(
        post(client, first_item(productId="PROD-404")), 400, "items[0].productId"
    )
    assert "PROD-404" in error


def test_the_quantity_error_states_the_allowed_range(client: Client) -> None:
    error = assert_failure(post(client, first_item(quantity=0)), 400, "items[0].quantity")
    assert str(MAX_QUANTITY) in error


# --- accepted edge values -------------------------------------------------------------------

ACCEPTED = [
    pytest.param(one_item(productId="PROD-001", quantity=MAX_QUANTITY), id="quantity-at-max"),
    pytest.param(one_item(productId="PROD-001", quantity=1), id="quantity-one"),
    pytest.param(one_item(productId="PROD-002", quantity=1, price=14999), id="price-matches"),
    pytest.param(one_item(productId="PROD-002", quantity=1, price=14999.0), id="price-as-float"),
    pytest.param(one_item(productId="PROD-002", quantity=1), id="price-omitted"),
    pytest.param(one_item(productId="PROD-002", quantity=1, price=None), id="price-null"),
    pytest.param(order(userId="u" * MAX_USER_ID_LENGTH), id="userId-at-max-length"),
    pytest.param(order(userId="用户-123"), id="userId-unicode"),
    pytest.param(order(note="ignored extra field"), id="unknown-field-ignored"),
]


@pytest.mark.parametrize("body", ACCEPTED)
def test_edge_values_within_the_rules_are_accepted(client: Client, body: dict[str, Any]) -> None:
    before = written()
    response = post(client, body)
    assert response.status_code == 201, response.content
    data = response.json()["data"]
    assert data["userId"] == body["userId"]
    assert [(i["productId"], i["quantity"]) for i in data["items"]] == [
        (i["productId"], i["quantity"]) for i in body["items"]
    ]
    assert Order.objects.count() == before["orders"] + 1
    assert OrderLine.objects.count() == before["lines"] + len(body["items"])
    assert Event.objects.count() == before["events"] + 1


def test_an_omitted_price_is_taken_from_the_catalog(client: Client) -> None:
    response = post(client, one_item(productId="PROD-002", quantity=3))
    assert response.status_code == 201
    data = response.json()["data"]
    assert data["items"] == [{"productId": "PROD-002", "quantity": 3, "price": 14999}]
    assert data["totalAmount"] == 3 * 14999
    line = OrderLine.objects.get(order_id=data["orderId"])
    assert line.price == 14999


# --- 413 ------------------------------------------------------------------------------------


def test_an_oversized_body_with_a_correct_content_length_is_413(client: Client) -> None:
    raw = b" " * (LIMIT + 1)
    before = written()
    response = client.post("/orders", raw, content_type="application/json")
    error = assert_failure(response, 413, "body")
    assert str(LIMIT) in error
    assert written() == before


def test_an_oversized_valid_json_order_is_413(client: Client) -> None:
    body = order(note="x" * (LIMIT + 10))
    assert len(json.dumps(body)) > LIMIT
    before = written()
    assert_failure(post(client, body), 413, "body")
    assert written() == before


def test_a_body_of_exactly_64_kib_is_not_too_large(client: Client) -> None:
    assert LIMIT == 64 * 1024
    skeleton = json.dumps(order(note=""))
    raw = json.dumps(order(note="x" * (LIMIT - len(skeleton))))
    assert len(raw.encode()) == LIMIT
    assert post(client, raw).status_code == 201
    assert_failure(post(client, raw.replace('"x', '"xx', 1)), 413, "body")


def test_an_oversized_body_without_content_length_is_413() -> None:
    # Under daphne a chunked body has no Content-Length: the size must be checked on reading.
    raw = json.dumps(order(note="x" * (LIMIT + 10))).encode()
    scope = {
        "type": "http",
        "method": "POST",
        "path": "/orders",
        "query_string": b"",
        "headers": [(b"host", b"testserver"), (b"content-type", b"application/json")],
    }
    request = ASGIRequest(scope, io.BytesIO(raw))
    assert "CONTENT_LENGTH" not in request.META
    before = written()
    assert_failure(orders_api.orders(request), 413, "body")
    assert written() == before


# --- no 500s at all -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "raw",
    [
        *NOT_JSON,
        *NOT_AN_OBJECT,
        *(pytest.param(json.dumps(p.values[0]), id=p.id) for p in BAD_ORDERS),
        pytest.param(json.dumps(order(note="x" * (LIMIT + 1))), id="oversized"),
    ],
)
def test_no_bad_input_gives_a_server_error(client: Client, raw: Any) -> None:
    response = post(client, raw)
    assert response.status_code in (400, 413), response.content
    assert response.json()["success"] is False


# --- the happy path of the seed -------------------------------------------------------------


def test_the_seed_order_is_created_pending_with_the_catalog_total(client: Client) -> None:
    response = post(client, SEED_ORDER)
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["success"] is True
    data = body["data"]
    assert data["status"] == "pending"
    assert data["totalAmount"] == 15997
    assert data["orderId"].startswith("ORD-")
    assert data["userId"] == "user-123"
    assert data["items"] == SEED_ORDER["items"]

    stored = Order.objects.get(pk=data["orderId"])
    assert stored.status == "pending"
    assert stored.total_amount == 15997
    assert list(stored.lines.values_list("product_id", "quantity", "price")) == [
        ("PROD-001", 2, 6999),
        ("PROD-003", 1, 1999),
    ]


def test_the_seed_order_records_one_order_created_event_with_a_delivery_per_subscriber(
    client: Client,
) -> None:
    response = post(client, SEED_ORDER)
    assert response.status_code == 201
    order_id = response.json()["data"]["orderId"]

    event = Event.objects.get()
    assert event.event_type == "order.created"
    assert event.aggregate_id == order_id
    assert event.sequence == 1
    assert event.data["orderId"] == order_id
    assert event.data["totalAmount"] == 15997
    assert event.data["items"] == SEED_ORDER["items"]

    expected = {s.name for s in subscribers.for_event_type("order.created")}
    assert expected, "order.created has no subscribers: nothing would process the order"
    deliveries = Delivery.objects.filter(event=event)
    assert {d.subscriber for d in deliveries} == expected
    assert deliveries.count() == len(expected)
    assert {d.status for d in deliveries} == {"pending"}


def test_the_created_order_can_be_read_back(client: Client) -> None:
    created = post(client, SEED_ORDER).json()["data"]
    response = client.get(f"/orders/{created['orderId']}")
    assert response.status_code == 200
    assert response.json() == {"success": True, "data": created}


def test_an_unknown_order_id_is_404_in_the_seed_shape(client: Client) -> None:
    response = client.get("/orders/ORD-0-NOPE")
    assert response.status_code == 404
    assert response.json() == {"success": False, "error": "Order not found"}


# --- X-Correlation-ID -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "given",
    [
        pytest.param("flow-abc_1.2:3", id="punctuation"),
        pytest.param(str(uuid.uuid4()), id="uuid"),
        pytest.param("c" * 128, id="128-chars"),
        pytest.param("x", id="one-char"),
    ],
)
def test_a_given_correlation_id_is_echoed_and_carried_by_the_event(
    client: Client, given: str
) -> None:
    response = post(client, SEED_ORDER, **{"X-Correlation-ID": given})
    assert response.status_code == 201
    assert response["X-Correlation-ID"] == given
    assert response.json()["data"]["correlationId"] == given
    assert Event.objects.get().correlation_id == given


def test_without_a_correlation_id_a_new_one_is_generated_and_echoed(client: Client) -> None:
    first = post(client, SEED_ORDER)
    second = post(client, SEED_ORDER)
    generated = first["X-Correlation-ID"]
    assert UUID_RE.match(generated), generated
    assert second["X-Correlation-ID"] != generated
    assert first.json()["data"]["correlationId"] == generated
    event = Event.objects.get(aggregate_id=first.json()["data"]["orderId"])
    assert event.correlation_id == generated


def test_a_read_echoes_the_correlation_id_too(client: Client) -> None:
    response = client.get("/orders/ORD-0-NOPE", headers={"X-Correlation-ID": "read-1"})
    assert response["X-Correlation-ID"] == "read-1"


@pytest.mark.parametrize(
    "given",
    [
        pytest.param("c" * 129, id="129-chars"),
        pytest.param("c" * 300, id="300-chars"),
        pytest.param("has space", id="space"),
        pytest.param("a;b", id="semicolon"),
        pytest.param("<script>", id="angle-brackets"),
        pytest.param("naïve", id="non-ascii"),
        pytest.param(
            "abc\n",
            id="trailing-newline",
        ),
    ],
)
def test_an_invalid_correlation_id_is_rejected_naming_the_header_and_writes_nothing(
    client: Client, given: str
) -> None:
    before = written()
    response = post(client, SEED_ORDER, **{"X-Correlation-ID": given})
    assert_failure(response, 400, "X-Correlation-ID")
    assert written() == before


# --- methods and CSRF -----------------------------------------------------------------------


@pytest.mark.parametrize("method", ["put", "patch", "delete", "options"])
def test_other_methods_on_orders_are_405_json(client: Client, method: str) -> None:
    before = written()
    response = getattr(client, method)(
        "/orders", json.dumps(SEED_ORDER), content_type="application/json"
    )
    assert response.status_code == 405
    assert response["Content-Type"] == "application/json"
    assert response.json() == {"success": False, "error": f"method {method.upper()} not allowed"}
    assert response["Allow"] == "GET, POST"
    assert written() == before


@pytest.mark.parametrize("method", ["post", "put", "delete"])
def test_only_get_is_allowed_on_one_order(client: Client, method: str) -> None:
    created = post(client, SEED_ORDER).json()["data"]
    response = getattr(client, method)(
        f"/orders/{created['orderId']}", "{}", content_type="application/json"
    )
    assert response.status_code == 405
    assert response.json() == {"success": False, "error": f"method {method.upper()} not allowed"}
    assert response["Allow"] == "GET"
    assert Order.objects.get(pk=created["orderId"]).status == "pending"


def test_posting_an_order_needs_no_csrf_token() -> None:
    client = Client(enforce_csrf_checks=True)
    response = post(client, SEED_ORDER)
    assert response.status_code == 201, response.content
    assert Order.objects.filter(pk=response.json()["data"]["orderId"]).exists()


def test_posting_an_order_with_a_session_cookie_but_no_csrf_token_still_works() -> None:
    client = Client(enforce_csrf_checks=True)
    client.cookies["sessionid"] = "whatever"
    client.cookies["csrftoken"] = "x" * 32
    response = post(client, SEED_ORDER)
    assert response.status_code == 201, response.content


@pytest.mark.parametrize(
    ("body", "field"),
    [
        pytest.param(
            {"userId": "u\u0000", "items": [{"productId": "PROD-001", "quantity": 1}]},
            "userId",
            id="nul-in-userId",
        ),
        pytest.param(
            {"userId": "u\nx", "items": [{"productId": "PROD-001", "quantity": 1}]},
            "userId",
            id="newline-in-userId",
        ),
        pytest.param(
            {"userId": "u", "items": [{"productId": "PROD\u0000", "quantity": 1}]},
            "items[0].productId",
            id="nul-in-productId",
        ),
    ],
)
def test_control_characters_are_rejected_naming_the_field(
    client: Client, body: dict, field: str
) -> None:
    response = client.post("/orders", data=body, content_type="application/json")
    assert response.status_code == 400
    assert response.json()["error"].startswith(f"{field}:")
