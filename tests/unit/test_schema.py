"""eventhub.bus.schema: payload dataclasses to and from the wire, with named errors."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Literal

import pytest

from eventhub.bus.errors import EventValidationError
from eventhub.bus.schema import camel, from_wire, to_wire
from inventory.events import InventoryCheckFailed
from orders.events import OrderCreated, OrderedItem, ShippingAddress


@dataclass(frozen=True)
class Line:
    product_id: str
    quantity: int
    unit_price: Decimal


@dataclass(frozen=True)
class Shipment:
    shipment_id: str
    lines: list[Line]
    total_amount: Decimal
    weight_kg: float
    express: bool
    carrier: Literal["dhl", "ups"]
    tracking_code: str | None
    counts_by_sku: dict[str, int]
    note: str = ""
    labels: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Range:
    low: int
    high: int

    def check(self) -> None:
        if self.low > self.high:
            raise ValueError("low must not exceed high")


@dataclass(frozen=True)
class Window:
    window_id: str
    ranges: list[Range]


SHIPMENT = Shipment(
    shipment_id="SHP-1",
    lines=[
        Line(product_id="PROD-001", quantity=2, unit_price=Decimal("6999")),
        Line(product_id="PROD-003", quantity=1, unit_price=Decimal("19.99")),
    ],
    total_amount=Decimal("14017.99"),
    weight_kg=1.5,
    express=False,
    carrier="dhl",
    tracking_code=None,
    counts_by_sku={"PROD-001": 2, "PROD-003": 1},
)

SHIPMENT_WIRE: dict[str, Any] = {
    "shipmentId": "SHP-1",
    "lines": [
        {"productId": "PROD-001", "quantity": 2, "unitPrice": 6999},
        {"productId": "PROD-003", "quantity": 1, "unitPrice": 19.99},
    ],
    "totalAmount": 14017.99,
    "weightKg": 1.5,
    "express": False,
    "carrier": "dhl",
    "trackingCode": None,
    "countsBySku": {"PROD-001": 2, "PROD-003": 1},
    "note": "",
    "labels": [],
}


def wire(**changes: Any) -> dict[str, Any]:
    data = json.loads(json.dumps(SHIPMENT_WIRE))
    data.update(changes)
    return data


def rejects(cls: type, data: Any, path: str) -> str:
    """from_wire fails naming ``path``; returns the message."""
    with pytest.raises(EventValidationError) as caught:
        from_wire(cls, data)
    assert caught.value.path == path
    assert str(caught.value).startswith(f"{path}: ")
    return str(caught.value)


# --- names ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("python", "wire_name"),
    [
        ("order_id", "orderId"),
        ("total_amount", "totalAmount"),
        ("previous_status", "previousStatus"),
        ("original_event_type", "originalEventType"),
        ("status", "status"),
        ("id", "id"),
    ],
)
def test_snake_case_field_names_become_camel_case(python: str, wire_name: str) -> None:
    assert camel(python) == wire_name


# --- to_wire --------------------------------------------------------------------------------


def test_to_wire_converts_nested_dataclasses_and_lists_to_camel_case_json() -> None:
    assert to_wire(SHIPMENT) == SHIPMENT_WIRE


def test_to_wire_output_is_plain_json() -> None:
    assert json.loads(json.dumps(to_wire(SHIPMENT))) == SHIPMENT_WIRE


@pytest.mark.parametrize(
    ("value", "expected", "kind"),
    [
        pytest.param(Decimal("6999"), 6999, int, id="whole"),
        pytest.param(Decimal("6999.00"), 6999, int, id="whole-with-zero-cents"),
        pytest.param(Decimal("0"), 0, int, id="zero"),
        pytest.param(Decimal("19.99"), 19.99, float, id="cents"),
        pytest.param(Decimal("-0.5"), -0.5, float, id="negative-fraction"),
    ],
)
def test_decimals_become_json_numbers(value: Decimal, expected: Any, kind: type) -> None:
    result = to_wire(value)
    assert result == expected
    assert type(result) is kind


def test_to_wire_turns_tuples_into_lists_and_keeps_dict_keys() -> None:
    assert to_wire((Decimal("1"), "a")) == [1, "a"]
    assert to_wire({"snake_key": Decimal("2.5")}) == {"snake_key": 2.5}


def test_the_seed_order_payload_goes_on_the_wire_as_in_the_seed() -> None:
    payload = OrderCreated(
        order_id="ORD-1",
        user_id="user-123",
        items=[
            OrderedItem(product_id="PROD-001", quantity=2, price=Decimal("6999.00")),
            OrderedItem(product_id="PROD-003", quantity=1, price=Decimal("1999.00")),
        ],
        total_amount=Decimal("15997.00"),
        status="pending",
        created_at=1_634_567_890_123,
        shipping_address=ShippingAddress(
            name="Li Lei",
            line1="1 Nanjing Road",
            city="Shanghai",
            postal_code="200001",
            country="CN",
        ),
    )
    assert to_wire(payload) == {
        "orderId": "ORD-1",
        "userId": "user-123",
        "items": [
            {"productId": "PROD-001", "quantity": 2, "price": 6999},
            {"productId": "PROD-003", "quantity": 1, "price": 1999},
        ],
        "totalAmount": 15997,
        "status": "pending",
        "createdAt": 1_634_567_890_123,
        "shippingAddress": {
            "name": "Li Lei",
            "line1": "1 Nanjing Road",
            "city": "Shanghai",
            "postalCode": "200001",
            "country": "CN",
        },
    }
    assert from_wire(OrderCreated, to_wire(payload)) == payload


# --- from_wire: accepted --------------------------------------------------------------------


def test_from_wire_round_trips_a_nested_payload() -> None:
    assert from_wire(Shipment, to_wire(SHIPMENT)) == SHIPMENT


def test_from_wire_builds_nested_dataclasses_and_typed_lists() -> None:
    shipment = from_wire(Shipment, wire())
    assert isinstance(shipment.lines[0], Line)
    assert shipment.lines[1].unit_price == Decimal("19.99")
    assert isinstance(shipment.total_amount, Decimal)
    assert shipment.counts_by_sku == {"PROD-001": 2, "PROD-003": 1}


def test_a_decimal_from_a_float_keeps_its_decimal_digits() -> None:
    # Decimal(0.1) would be 0.1000000000000000055511151231257827...
    assert from_wire(Decimal, 0.1) == Decimal("0.1")
    assert from_wire(Decimal, 19.99) == Decimal("19.99")
    assert from_wire(Decimal, 7) == Decimal(7)


def test_a_float_field_accepts_an_integer() -> None:
    shipment = from_wire(Shipment, wire(weightKg=2))
    assert shipment.weight_kg == 2.0
    assert isinstance(shipment.weight_kg, float)


def test_an_optional_field_accepts_null_and_a_value() -> None:
    assert from_wire(Shipment, wire(trackingCode=None)).tracking_code is None
    assert from_wire(Shipment, wire(trackingCode="TRK-9")).tracking_code == "TRK-9"


def test_a_missing_field_with_a_default_takes_the_default() -> None:
    data = wire()
    del data["note"], data["labels"]
    shipment = from_wire(Shipment, data)
    assert shipment.note == ""
    assert shipment.labels == []


def test_each_literal_value_is_accepted() -> None:
    assert from_wire(Shipment, wire(carrier="ups")).carrier == "ups"
    for reason in ("product_not_found", "insufficient_stock"):
        data = {
            "orderId": "ORD-1",
            "userId": "user-1",
            "reason": reason,
            "productId": "PROD-001",
            "available": 0,
            "requested": 1,
        }
        assert from_wire(InventoryCheckFailed, data).reason == reason


# --- from_wire: rejected, with the path of the faulty field ---------------------------------


@pytest.mark.parametrize(
    ("data", "path", "says"),
    [
        pytest.param([], "data", "expected object, got array", id="payload-array"),
        pytest.param(None, "data", "expected object, got null", id="payload-null"),
        pytest.param(
            wire(shipmentId=1), "data.shipmentId", "expected string, got int", id="string-number"
        ),
        pytest.param(
            wire(shipmentId=None), "data.shipmentId", "expected string, got null", id="string-null"
        ),
        pytest.param(
            {k: v for k, v in SHIPMENT_WIRE.items() if k != "shipmentId"},
            "data.shipmentId",
            "is required",
            id="required-missing",
        ),
        pytest.param(
            {k: v for k, v in SHIPMENT_WIRE.items() if k != "trackingCode"},
            "data.trackingCode",
            "is required",
            id="optional-without-default-missing",
        ),
        pytest.param(
            wire(trackingCode=5), "data.trackingCode", "expected string", id="optional-wrong-type"
        ),
        pytest.param(
            wire(lines={"0": {}}), "data.lines", "expected array, got object", id="list-object"
        ),
        pytest.param(
            wire(lines=[SHIPMENT_WIRE["lines"][0], "PROD-003"]),
            "data.lines[1]",
            "expected object, got string",
            id="list-item-not-object",
        ),
        pytest.param(
            wire(lines=[{**SHIPMENT_WIRE["lines"][0], "quantity": "2"}]),
            "data.lines[0].quantity",
            "expected integer, got string",
            id="nested-int-string",
        ),
        pytest.param(
            wire(lines=[{**SHIPMENT_WIRE["lines"][0], "quantity": 2.0}]),
            "data.lines[0].quantity",
            "expected integer, got float",
            id="nested-int-float",
        ),
        pytest.param(
            wire(lines=[{**SHIPMENT_WIRE["lines"][0], "quantity": True}]),
            "data.lines[0].quantity",
            "expected integer, got boolean",
            id="nested-int-true",
        ),
        pytest.param(
            wire(lines=[SHIPMENT_WIRE["lines"][0], {"productId": "P", "quantity": 1}]),
            "data.lines[1].unitPrice",
            "is required",
            id="nested-missing",
        ),
        pytest.param(
            wire(lines=[{**SHIPMENT_WIRE["lines"][0], "unitPrice": "6999"}]),
            "data.lines[0].unitPrice",
            "expected number, got string",
            id="decimal-string",
        ),
        pytest.param(
            wire(totalAmount=False),
            "data.totalAmount",
            "expected number, got boolean",
            id="decimal-boolean",
        ),
        pytest.param(
            wire(weightKg=True), "data.weightKg", "expected number, got boolean", id="float-bool"
        ),
        pytest.param(wire(express=1), "data.express", "expected boolean, got int", id="bool-one"),
        pytest.param(wire(express="false"), "data.express", "expected boolean", id="bool-string"),
        pytest.param(
            wire(carrier="fedex"), "data.carrier", "must be one of dhl, ups", id="literal"
        ),
        pytest.param(wire(carrier=None), "data.carrier", "must be one of", id="literal-null"),
        pytest.param(wire(countsBySku=[]), "data.countsBySku", "expected object", id="dict-array"),
        pytest.param(
            wire(countsBySku={"PROD-001": "2"}),
            "data.countsBySku.PROD-001",
            "expected integer",
            id="dict-value",
        ),
        pytest.param(
            wire(labels=["ok", 3]), "data.labels[1]", "expected string, got int", id="list-of-str"
        ),
    ],
)
def test_from_wire_rejects_bad_data_naming_the_path(data: Any, path: str, says: str) -> None:
    assert says in rejects(Shipment, data, path)


@pytest.mark.parametrize("value", [True, False], ids=["true", "false"])
def test_a_boolean_is_not_accepted_as_an_integer(value: bool) -> None:
    rejects(int, value, "data")
    rejects(Decimal, value, "data")
    rejects(float, value, "data")


def test_the_seed_order_payload_names_a_bad_item_quantity() -> None:
    data = {
        "orderId": "ORD-1",
        "userId": "user-123",
        "items": [{"productId": "PROD-001", "quantity": "2", "price": 6999}],
        "totalAmount": 13998,
        "status": "pending",
        "createdAt": 1,
    }
    message = rejects(OrderCreated, data, "data.items[0].quantity")
    assert message == "data.items[0].quantity: expected integer, got string"


def test_the_root_of_the_path_can_be_chosen() -> None:
    with pytest.raises(EventValidationError) as caught:
        from_wire(Line, {"productId": "P", "quantity": "1", "unitPrice": 1}, path="payload")
    assert caught.value.path == "payload.quantity"


def test_a_failed_check_method_is_reported_at_its_object() -> None:
    data = {"windowId": "w", "ranges": [{"low": 1, "high": 2}, {"low": 5, "high": 3}]}
    message = rejects(Window, data, "data.ranges[1]")
    assert "low must not exceed high" in message
    assert from_wire(Window, {"windowId": "w", "ranges": [{"low": 1, "high": 1}]}).ranges == [
        Range(1, 1)
    ]


def test_the_validation_error_is_a_value_error() -> None:
    with pytest.raises(ValueError, match=r"^data\.express: "):
        from_wire(Shipment, wire(express=None))


@pytest.mark.parametrize(
    ("tp", "value"),
    [
        pytest.param(Decimal, float("nan"), id="decimal-nan"),
        pytest.param(Decimal, float("inf"), id="decimal-infinity"),
        pytest.param(float, float("nan"), id="float-nan"),
        pytest.param(float, float("-inf"), id="float-minus-infinity"),
    ],
)
def test_non_finite_numbers_are_rejected(tp: type, value: float) -> None:
    rejects(tp, value, "data")
