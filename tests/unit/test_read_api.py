"""GET /inventory, GET /orders and GET /events (R7): shapes, filters, pagination, bad params."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest
from django.test import Client

from eventhub.bus import context
from eventhub.models import Event
from orders.services import ItemInput, order_place, order_status_set

pytestmark = pytest.mark.django_db

SEED_CATALOG = [
    {"productId": "PROD-001", "name": "iPhone 15", "stock": 100, "price": 6999},
    {"productId": "PROD-002", "name": "MacBook Pro", "stock": 50, "price": 14999},
    {"productId": "PROD-003", "name": "AirPods Pro", "stock": 200, "price": 1999},
]


@pytest.fixture
def client() -> Client:
    return Client(raise_request_exception=False)


def get(client: Client, path: str, **params: Any) -> dict[str, Any]:
    response = client.get(path, params)
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["success"] is True
    return body


def assert_bad_param(response: Any, name: str) -> None:
    assert response.status_code == 400, response.content
    body = json.loads(response.content)
    assert set(body) == {"success", "error"}
    assert body["success"] is False
    assert body["error"].startswith(f"{name}:"), body["error"]


def place(user_id: str, product_id: str = "PROD-001", quantity: int = 1) -> str:
    return order_place(user_id=user_id, items=[ItemInput(product_id, quantity, None)]).order_id


# --- GET /inventory -------------------------------------------------------------------------


def test_inventory_lists_the_seed_catalog(client: Client) -> None:
    body = get(client, "/inventory")
    assert body["data"] == SEED_CATALOG
    assert body["pagination"] == {"limit": 100, "offset": 0, "total": 3, "next": None}


def test_inventory_pages_with_limit_and_offset(client: Client) -> None:
    first = get(client, "/inventory", limit=2)
    assert [p["productId"] for p in first["data"]] == ["PROD-001", "PROD-002"]
    assert first["pagination"]["total"] == 3
    assert first["pagination"]["next"] == "/inventory?limit=2&offset=2"

    second = client.get(first["pagination"]["next"]).json()
    assert [p["productId"] for p in second["data"]] == ["PROD-003"]
    assert second["pagination"]["next"] is None


def test_inventory_has_no_next_page_when_a_page_ends_at_the_last_product(client: Client) -> None:
    body = get(client, "/inventory", limit=3)
    assert len(body["data"]) == 3
    assert body["pagination"]["next"] is None


def test_inventory_shows_the_current_stock(client: Client) -> None:
    from inventory.models import Product

    Product.objects.filter(product_id="PROD-002").update(stock=7)
    body = get(client, "/inventory")
    assert {p["productId"]: p["stock"] for p in body["data"]}["PROD-002"] == 7


@pytest.mark.parametrize(
    ("query", "name"),
    [
        pytest.param("limit=0", "limit", id="limit-zero"),
        pytest.param("limit=abc", "limit", id="limit-not-a-number"),
        pytest.param("limit=1001", "limit", id="limit-above-max"),
        pytest.param("offset=-1", "offset", id="offset-negative"),
        pytest.param("offset=1.5", "offset", id="offset-fraction"),
        pytest.param(
            "offset=100000000000000000000000",
            "offset",
            id="offset-beyond-int64",
        ),
    ],
)
def test_inventory_rejects_bad_paging_naming_the_parameter(
    client: Client, query: str, name: str
) -> None:
    assert_bad_param(client.get(f"/inventory?{query}"), name)


def test_inventory_is_read_only(client: Client) -> None:
    response = client.post("/inventory", "{}", content_type="application/json")
    assert response.status_code == 405
    assert response.json() == {"success": False, "error": "method POST not allowed"}


# --- GET /orders ----------------------------------------------------------------------------


@pytest.fixture
def orders() -> dict[str, str]:
    """Five orders, oldest first: three of alice (one confirmed, one rejected), two of bob."""
    ids = {
        "alice-1": place("alice"),
        "bob-1": place("bob", "PROD-002"),
        "alice-2": place("alice", "PROD-003", 2),
        "alice-3": place("alice"),
        "bob-2": place("bob"),
    }
    assert order_status_set(order_id=ids["alice-2"], status="confirmed")
    assert order_status_set(order_id=ids["alice-3"], status="rejected", reason="no stock")
    return ids


def test_orders_are_listed_newest_first(client: Client, orders: dict[str, str]) -> None:
    body = get(client, "/orders")
    assert [o["orderId"] for o in body["data"]] == [
        orders["bob-2"],
        orders["alice-3"],
        orders["alice-2"],
        orders["bob-1"],
        orders["alice-1"],
    ]
    assert body["pagination"] == {"limit": 50, "offset": 0, "total": 5, "next": None}


def test_a_listed_order_has_the_seed_shape(client: Client, orders: dict[str, str]) -> None:
    listed = {o["orderId"]: o for o in get(client, "/orders")["data"]}
    alice_2 = listed[orders["alice-2"]]
    assert alice_2["userId"] == "alice"
    assert alice_2["items"] == [{"productId": "PROD-003", "quantity": 2, "price": 1999}]
    assert alice_2["totalAmount"] == 3998
    assert alice_2["status"] == "confirmed"
    assert isinstance(alice_2["createdAt"], int)
    assert listed[orders["alice-3"]]["statusReason"] == "no stock"


def test_orders_filter_by_user(client: Client, orders: dict[str, str]) -> None:
    body = get(client, "/orders", userId="bob")
    assert [o["orderId"] for o in body["data"]] == [orders["bob-2"], orders["bob-1"]]
    assert body["pagination"]["total"] == 2
    assert get(client, "/orders", userId="nobody")["data"] == []


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        pytest.param("pending", ["bob-2", "bob-1", "alice-1"], id="pending"),
        pytest.param("confirmed", ["alice-2"], id="confirmed"),
        pytest.param("rejected", ["alice-3"], id="rejected"),
    ],
)
def test_orders_filter_by_status(
    client: Client, orders: dict[str, str], status: str, expected: list[str]
) -> None:
    body = get(client, "/orders", status=status)
    assert [o["orderId"] for o in body["data"]] == [orders[k] for k in expected]
    assert {o["status"] for o in body["data"]} == {status}


def test_orders_filter_by_user_and_status_together(client: Client, orders: dict[str, str]) -> None:
    body = get(client, "/orders", userId="alice", status="pending")
    assert [o["orderId"] for o in body["data"]] == [orders["alice-1"]]


def test_orders_page_with_limit_offset_and_next(client: Client, orders: dict[str, str]) -> None:
    first = get(client, "/orders", limit=2)
    assert [o["orderId"] for o in first["data"]] == [orders["bob-2"], orders["alice-3"]]
    assert first["pagination"] == {
        "limit": 2,
        "offset": 0,
        "total": 5,
        "next": "/orders?limit=2&offset=2",
    }

    seen = [o["orderId"] for o in first["data"]]
    next_url = first["pagination"]["next"]
    pages = 1
    while next_url:
        page = client.get(next_url).json()
        seen += [o["orderId"] for o in page["data"]]
        next_url = page["pagination"]["next"]
        pages += 1
    assert pages == 3
    assert seen == [orders[k] for k in ("bob-2", "alice-3", "alice-2", "bob-1", "alice-1")]


def test_the_next_link_keeps_the_filters(client: Client, orders: dict[str, str]) -> None:
    first = get(client, "/orders", userId="alice", limit=1)
    next_url = first["pagination"]["next"]
    assert "userId=alice" in next_url
    second = client.get(next_url).json()
    assert [o["orderId"] for o in second["data"]] == [orders["alice-2"]]
    assert second["pagination"]["offset"] == 1
    assert second["pagination"]["total"] == 3


def test_a_page_ending_at_the_last_order_has_no_next(
    client: Client, orders: dict[str, str]
) -> None:
    body = get(client, "/orders", limit=2, offset=3)
    assert [o["orderId"] for o in body["data"]] == [orders["bob-1"], orders["alice-1"]]
    assert body["pagination"]["next"] is None


def test_an_offset_past_the_end_is_an_empty_page(client: Client, orders: dict[str, str]) -> None:
    body = get(client, "/orders", offset=10)
    assert body["data"] == []
    assert body["pagination"]["next"] is None
    assert body["pagination"]["total"] == 5


@pytest.mark.parametrize(
    ("query", "name"),
    [
        pytest.param("limit=0", "limit", id="limit-zero"),
        pytest.param("limit=-5", "limit", id="limit-negative"),
        pytest.param("limit=abc", "limit", id="limit-not-a-number"),
        pytest.param("limit=501", "limit", id="limit-above-max"),
        pytest.param("offset=-1", "offset", id="offset-negative"),
        pytest.param("offset=abc", "offset", id="offset-not-a-number"),
        pytest.param("status=bogus", "status", id="status-unknown"),
        pytest.param("status=PENDING", "status", id="status-wrong-case"),
        pytest.param(
            "offset=100000000000000000000000",
            "offset",
            id="offset-beyond-int64",
        ),
    ],
)
def test_orders_reject_bad_parameters_naming_them(client: Client, query: str, name: str) -> None:
    assert_bad_param(client.get(f"/orders?{query}"), name)


def test_the_status_error_lists_the_allowed_values(client: Client) -> None:
    error = client.get("/orders?status=bogus").json()["error"]
    for status in ("pending", "confirmed", "rejected"):
        assert status in error


# --- GET /events ----------------------------------------------------------------------------

ENVELOPE_KEYS = {"eventId", "eventType", "version", "timestamp", "data", "metadata"}
METADATA_KEYS = {"source", "correlationId", "causationId", "traceId"}


@pytest.fixture
def flows() -> dict[str, Any]:
    """Two flows: flow-a places an order that is then confirmed; flow-b places one order."""
    with context.bound(correlation_id="flow-a"):
        order_a = place("alice")
    cause = str(Event.objects.get(aggregate_id=order_a, event_type="order.created").event_id)
    with context.bound(correlation_id="flow-a", causation_id=cause):
        order_status_set(order_id=order_a, status="confirmed")
    with context.bound(correlation_id="flow-b"):
        order_b = place("bob")
    events = list(Event.objects.order_by("id"))
    assert [e.event_type for e in events] == [
        "order.created",
        "order.status.updated",
        "order.created",
    ]
    return {"order_a": order_a, "order_b": order_b, "cause": cause, "events": events}


def test_events_have_the_r2_envelope(client: Client, flows: dict[str, Any]) -> None:
    data = get(client, "/events")["data"]
    assert len(data) == 3
    for envelope, event in zip(data, flows["events"], strict=True):
        assert set(envelope) >= ENVELOPE_KEYS
        assert set(envelope["metadata"]) == METADATA_KEYS
        assert envelope["eventId"] == str(event.event_id)
        assert uuid.UUID(envelope["eventId"])
        assert envelope["eventType"] == event.event_type
        assert envelope["version"] == event.version  # as stored: order.created is at 2
        assert isinstance(envelope["timestamp"], int)
        assert envelope["timestamp"] > 1_600_000_000_000  # epoch milliseconds, not seconds
        assert isinstance(envelope["data"], dict)
        assert envelope["metadata"]["source"] == "order-service"


def test_the_envelope_carries_the_payload_in_camel_case(
    client: Client, flows: dict[str, Any]
) -> None:
    created = get(client, "/events")["data"][0]
    assert created["data"] == {
        "orderId": flows["order_a"],
        "userId": "alice",
        "items": [{"productId": "PROD-001", "quantity": 1, "price": 6999}],
        "totalAmount": 6999,
        "status": "pending",
        "createdAt": created["data"]["createdAt"],
        "shippingAddress": {
            "name": "alice",
            "line1": "Collect in store",
            "city": "Shanghai",
            "postalCode": "200000",
            "country": "CN",
        },
    }
    assert created["version"] == 2
    updated = get(client, "/events")["data"][1]
    assert updated["data"]["previousStatus"] == "pending"
    assert updated["data"]["status"] == "confirmed"


def test_the_envelope_metadata_carries_correlation_and_causation(
    client: Client, flows: dict[str, Any]
) -> None:
    first, second, third = get(client, "/events")["data"]
    assert first["metadata"]["correlationId"] == "flow-a"
    assert first["metadata"]["causationId"] is None
    assert second["metadata"]["correlationId"] == "flow-a"
    assert second["metadata"]["causationId"] == flows["cause"] == first["eventId"]
    assert third["metadata"]["correlationId"] == "flow-b"


def test_events_filter_by_event_type(client: Client, flows: dict[str, Any]) -> None:
    data = get(client, "/events", eventType="order.created")["data"]
    assert [e["data"]["orderId"] for e in data] == [flows["order_a"], flows["order_b"]]
    assert {e["eventType"] for e in data} == {"order.created"}
    assert get(client, "/events", eventType="no.such.event")["data"] == []


def test_events_filter_by_correlation_id(client: Client, flows: dict[str, Any]) -> None:
    data = get(client, "/events", correlationId="flow-a")["data"]
    assert [e["eventType"] for e in data] == ["order.created", "order.status.updated"]
    assert {e["metadata"]["correlationId"] for e in data} == {"flow-a"}


def test_events_filter_by_since_in_epoch_milliseconds(
    client: Client, flows: dict[str, Any]
) -> None:
    first, second, third = flows["events"]
    for event, ms in (
        (first, 1_700_000_000_000),
        (second, 1_700_000_001_000),
        (third, 1_700_000_002_000),
    ):
        Event.objects.filter(pk=event.pk).update(timestamp=ms)

    def ids(**params: Any) -> list[str]:
        return [e["eventId"] for e in get(client, "/events", **params)["data"]]

    assert ids(since=1_700_000_001_000) == [str(second.event_id), str(third.event_id)]
    assert ids(since=1_700_000_001_001) == [str(third.event_id)]
    assert ids(since=0) == [str(e.event_id) for e in flows["events"]]
    assert ids(since=1_700_000_002_001) == []


def test_events_filters_combine(client: Client, flows: dict[str, Any]) -> None:
    data = get(client, "/events", eventType="order.created", correlationId="flow-b")["data"]
    assert [e["data"]["orderId"] for e in data] == [flows["order_b"]]


def test_events_page_with_after_and_next(client: Client, flows: dict[str, Any]) -> None:
    first = get(client, "/events", limit=2)
    events = flows["events"]
    assert [e["eventId"] for e in first["data"]] == [str(e.event_id) for e in events[:2]]
    assert first["pagination"]["after"] == events[1].pk
    assert first["pagination"]["next"] == f"/events?after={events[1].pk}&limit=2"

    second = client.get(first["pagination"]["next"]).json()
    assert [e["eventId"] for e in second["data"]] == [str(events[2].event_id)]
    assert second["pagination"]["next"] is None
    assert second["pagination"]["after"] == events[2].pk

    # Polling with the last cursor returns nothing new, and keeps the cursor.
    empty = get(client, "/events", after=events[2].pk)
    assert empty["data"] == []
    assert empty["pagination"]["after"] == events[2].pk


def test_the_events_next_link_keeps_the_filters(client: Client, flows: dict[str, Any]) -> None:
    first = get(client, "/events", eventType="order.created", limit=1)
    assert "eventType=order.created" in first["pagination"]["next"]
    second = client.get(first["pagination"]["next"]).json()
    assert [e["data"]["orderId"] for e in second["data"]] == [flows["order_b"]]


@pytest.mark.parametrize(
    ("query", "name"),
    [
        pytest.param("since=abc", "since", id="since-not-a-number"),
        pytest.param("since=1.5", "since", id="since-fraction"),
        pytest.param("since=2024-01-01", "since", id="since-iso-date"),
        pytest.param("since=-1", "since", id="since-negative"),
        pytest.param("after=abc", "after", id="after-not-a-number"),
        pytest.param("limit=0", "limit", id="limit-zero"),
        pytest.param("limit=1001", "limit", id="limit-above-max"),
    ],
)
def test_events_reject_bad_parameters_naming_them(client: Client, query: str, name: str) -> None:
    assert_bad_param(client.get(f"/events?{query}"), name)


def test_events_are_read_only(client: Client) -> None:
    response = client.post("/events", "{}", content_type="application/json")
    assert response.status_code == 405
    assert response.json() == {"success": False, "error": "method POST not allowed"}
