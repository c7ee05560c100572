"""``shippingAddress`` in POST /orders (order.created version 2) and the 1 -> 2 upcaster."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.test import Client

from eventhub.bus.declarations import spec_for
from eventhub.models import Event
from orders.events import STORE_PICKUP_LINE, order_created_v1_to_v2
from orders.models import Order

pytestmark = pytest.mark.django_db

ADDRESS = {
    "name": "Li Lei",
    "line1": "1 Nanjing Road",
    "city": "Shanghai",
    "postalCode": "200001",
    "country": "CN",
}
ITEMS = [{"productId": "PROD-001", "quantity": 1}]


def post(client: Client, body: Any) -> Any:
    return client.post("/orders", data=json.dumps(body), content_type="application/json")


def test_the_address_is_stored_published_and_returned(client: Client) -> None:
    response = post(client, {"userId": "u1", "items": ITEMS, "shippingAddress": ADDRESS})
    assert response.status_code == 201, response.content
    data = response.json()["data"]
    assert data["shippingAddress"] == ADDRESS
    assert Order.objects.get(pk=data["orderId"]).shipping_address == ADDRESS
    event = Event.objects.get(event_type="order.created")
    assert (event.version, event.data["shippingAddress"]) == (2, ADDRESS)


def test_without_an_address_the_order_is_collected_in_store(client: Client) -> None:
    data = post(client, {"userId": "u1", "items": ITEMS}).json()["data"]
    assert data["shippingAddress"]["line1"] == STORE_PICKUP_LINE
    assert data["shippingAddress"]["name"] == "u1"
    assert Event.objects.get().data["shippingAddress"] == data["shippingAddress"]


def test_a_lower_case_country_and_padding_are_normalised(client: Client) -> None:
    given = {**ADDRESS, "country": "cn", "city": "  Shanghai "}
    data = post(client, {"userId": "u1", "items": ITEMS, "shippingAddress": given}).json()
    assert data["data"]["shippingAddress"] == ADDRESS


@pytest.mark.parametrize(
    ("address", "field"),
    [
        pytest.param("Nanjing Road", "shippingAddress", id="not-an-object"),
        pytest.param([ADDRESS], "shippingAddress", id="array"),
        pytest.param({**ADDRESS, "city": ""}, "shippingAddress.city", id="empty-city"),
        pytest.param({**ADDRESS, "name": 7}, "shippingAddress.name", id="name-not-a-string"),
        pytest.param(
            {k: v for k, v in ADDRESS.items() if k != "line1"},
            "shippingAddress.line1",
            id="line1-missing",
        ),
        pytest.param({**ADDRESS, "line1": "x" * 201}, "shippingAddress.line1", id="too-long"),
        pytest.param({**ADDRESS, "city": "Shang\nhai"}, "shippingAddress.city", id="control"),
        pytest.param({**ADDRESS, "country": "CHN"}, "shippingAddress.country", id="3-letters"),
        pytest.param({**ADDRESS, "country": "C1"}, "shippingAddress.country", id="digit"),
        pytest.param({**ADDRESS, "floor": "3"}, "shippingAddress.floor", id="unknown-field"),
    ],
)
def test_a_malformed_address_is_rejected_naming_the_field_and_writes_nothing(
    client: Client, address: Any, field: str
) -> None:
    response = post(client, {"userId": "u1", "items": ITEMS, "shippingAddress": address})
    assert response.status_code == 400, response.content
    error = response.json()["error"]
    assert error.startswith(f"{field}: "), error
    assert not Order.objects.exists() and not Event.objects.exists()


def test_the_upcaster_lifts_a_version_1_order_created_to_version_2() -> None:
    v1 = {
        "orderId": "ORD-1",
        "userId": "user-123",
        "items": [{"productId": "PROD-001", "quantity": 2, "price": 6999}],
        "totalAmount": 13998,
        "status": "pending",
        "createdAt": 1,
    }
    spec = spec_for("order.created")
    assert spec.version == 2
    assert spec.upcasters[1] is order_created_v1_to_v2
    lifted = spec.upcast(1, v1)
    assert lifted == {**v1, "shippingAddress": lifted["shippingAddress"]}
    assert lifted["shippingAddress"]["line1"] == STORE_PICKUP_LINE
    assert lifted["shippingAddress"]["name"] == "user-123"
    assert "shippingAddress" not in v1  # the stored data is left as it was
