"""The transactional outbox (R2, R3): validated publishing, sequences, declarations, upcasting.

Plain ``django_db`` tests: the test transaction never commits, so on-commit dispatch to the
broker never runs (and is captured, not executed, where a test looks at it).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import pytest
from django.db import transaction

from eventhub.bus import context, declarations, dispatch, outbox, subscribers
from eventhub.bus.builtin_events import EventProcessingFailed
from eventhub.bus.declarations import DomainEvent, all_specs, event, spec_for, upcaster
from eventhub.bus.delivery import decode
from eventhub.bus.errors import (
    EventValidationError,
    NonRetryableError,
    UnsupportedEventVersion,
)
from eventhub.bus.outbox import AfterCommit
from eventhub.models import AggregateSequence, Delivery, Event
from inventory.events import InventoryCheckFailed, InventoryUpdated, ReservedLine
from orders.events import (
    OrderCreated,
    OrderedItem,
    OrderStatusUpdated,
    order_created,
    order_status_updated,
    store_pickup,
)
from orders.models import Order

pytestmark = pytest.mark.django_db


def created(order_id: str = "ORD-1", quantity: Any = 2) -> OrderCreated:
    return OrderCreated(
        order_id=order_id,
        user_id="user-123",
        items=[OrderedItem(product_id="PROD-001", quantity=quantity, price=Decimal("6999"))],
        total_amount=Decimal("13998"),
        status="pending",
        created_at=1_634_567_890_123,
        shipping_address=store_pickup("user-123"),
    )


def status_updated(order_id: str, status: str = "confirmed") -> OrderStatusUpdated:
    return OrderStatusUpdated(
        order_id=order_id, user_id="user-123", status=status, previous_status="pending"
    )


def check_failed(reason: Any = "insufficient_stock") -> InventoryCheckFailed:
    return InventoryCheckFailed(
        order_id="ORD-1",
        user_id="user-123",
        reason=reason,
        product_id="PROD-001",
        available=1,
        requested=2,
    )


def reserved(line: ReservedLine) -> InventoryUpdated:
    return InventoryUpdated(
        order_id="ORD-1",
        user_id="user-123",
        items=[line],
        total_amount=Decimal("13998"),
        shipping_address=store_pickup("user-123"),
    )


def rows() -> dict[str, int]:
    return {
        "events": Event.objects.count(),
        "deliveries": Delivery.objects.count(),
        "sequences": AggregateSequence.objects.count(),
        "orders": Order.objects.count(),
    }


# --- invalid payloads -----------------------------------------------------------------------

INVALID = [
    pytest.param(created(quantity="2"), "data.items[0].quantity", id="quantity-string"),
    pytest.param(created(quantity=True), "data.items[0].quantity", id="quantity-boolean"),
    pytest.param(check_failed(reason="out_of_stock"), "data.reason", id="reason-not-in-literal"),
    pytest.param(
        reserved(ReservedLine(product_id="PROD-001", quantity=1, remaining_stock=None)),  # type: ignore[arg-type]
        "data.items[0].remainingStock",
        id="remaining-stock-null",
    ),
    pytest.param(
        OrderStatusUpdated(
            order_id=42,  # type: ignore[arg-type]
            user_id="user-123",
            status="confirmed",
            previous_status="pending",
        ),
        "data.orderId",
        id="order-id-number",
    ),
]


@pytest.mark.parametrize(("payload", "path"), INVALID)
def test_an_invalid_payload_raises_naming_the_field_and_writes_nothing(
    payload: DomainEvent, path: str, django_capture_on_commit_callbacks: Any
) -> None:
    before = rows()
    with (
        django_capture_on_commit_callbacks(execute=False) as callbacks,
        pytest.raises(EventValidationError) as caught,
    ):
        outbox.record(payload)
    assert caught.value.path == path
    assert str(caught.value).startswith(f"{path}: ")
    assert rows() == before
    assert callbacks == []


def test_an_invalid_payload_sent_as_a_domain_signal_raises_the_same_error() -> None:
    before = rows()
    with pytest.raises(EventValidationError, match=r"^data\.items\[0\]\.quantity: "):
        order_created.send(sender=Order, event=created(quantity="2"))
    assert rows() == before


def test_the_literal_error_lists_the_allowed_reasons() -> None:
    with pytest.raises(EventValidationError) as caught:
        outbox.record(check_failed(reason="out_of_stock"))
    assert "product_not_found" in str(caught.value)
    assert "insufficient_stock" in str(caught.value)


def test_an_invalid_payload_rolls_back_the_publishers_other_writes() -> None:
    before = rows()
    with pytest.raises(EventValidationError), transaction.atomic():
        Order.objects.create(order_id="ORD-ROLLBACK", user_id="u", total_amount=1)
        order_created.send(sender=Order, event=created("ORD-OK"))  # valid: recorded...
        order_created.send(sender=Order, event=created("ORD-ROLLBACK", quantity="2"))  # ...not
    assert rows() == before
    assert not Order.objects.filter(pk="ORD-ROLLBACK").exists()


def test_a_signal_refuses_a_payload_of_another_event_type() -> None:
    with pytest.raises(TypeError, match="order.created"):
        order_created.send(sender=Order, event=status_updated("ORD-1"))
    assert Event.objects.count() == 0


# --- what a valid publish writes ------------------------------------------------------------


def test_a_valid_publish_writes_the_event_and_one_delivery_per_subscriber(
    django_capture_on_commit_callbacks: Any,
) -> None:
    with (
        context.bound(correlation_id="flow-1", causation_id=str(uuid.uuid4())),
        django_capture_on_commit_callbacks(execute=False) as callbacks,
    ):
        cause = context.current().causation_id
        stored = outbox.record(created("ORD-7"))

    event_row = Event.objects.get()
    assert event_row.pk == stored.pk
    assert event_row.event_type == "order.created"
    assert event_row.version == OrderCreated.spec.version
    assert event_row.source == "order-service"
    assert event_row.aggregate_type == "order"
    assert event_row.aggregate_id == "ORD-7"
    assert event_row.sequence == 1
    assert event_row.correlation_id == "flow-1"
    assert str(event_row.causation_id) == cause
    assert event_row.data["orderId"] == "ORD-7"
    assert event_row.data["items"] == [{"productId": "PROD-001", "quantity": 2, "price": 6999}]

    expected = {s.name: s for s in subscribers.for_event_type("order.created")}
    deliveries = list(Delivery.objects.filter(event=event_row))
    assert {d.subscriber for d in deliveries} == set(expected)
    for d in deliveries:
        sub = expected[d.subscriber]
        assert d.queue == sub.queue
        assert d.guarantee == sub.guarantee.value
        assert d.max_attempts == sub.max_attempts
        assert d.status == Delivery.Status.PENDING
        assert d.attempts == 0
        assert d.dispatched_at is None

    # Dispatch waits for the commit: exactly one dispatch, for exactly these deliveries.
    assert sorted(handed_off(callbacks)) == sorted(d.pk for d in deliveries)


def handed_off(callbacks: list[Any]) -> list[int]:
    """The delivery ids of the one after-commit hand-off among ``callbacks``."""
    hand_offs = [c for c in callbacks if isinstance(getattr(c, "__self__", None), AfterCommit)]
    assert len(hand_offs) == 1
    return list(hand_offs[0].__self__.ids)


def test_the_events_of_one_transaction_are_handed_off_together_after_its_commit(
    django_capture_on_commit_callbacks: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    sent: list[list[int]] = []
    monkeypatch.setattr(dispatch, "dispatch", lambda ids: sent.append(sorted(ids)) or len(ids))
    with django_capture_on_commit_callbacks(execute=True), transaction.atomic():
        outbox.record(created("ORD-1"))
        outbox.record(created("ORD-2"))
        outbox.record(status_updated("ORD-1"))
    assert sent == [sorted(Delivery.objects.values_list("pk", flat=True))]
    assert len(sent[0]) == 2 * len(subscribers.for_event_type("order.created")) + len(
        subscribers.for_event_type("order.status.updated")
    )


def test_a_rolled_back_savepoint_does_not_cost_the_later_events_their_hand_off(
    django_capture_on_commit_callbacks: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    sent: list[list[int]] = []
    monkeypatch.setattr(dispatch, "dispatch", lambda ids: sent.append(sorted(ids)) or len(ids))

    class Abort(Exception):
        pass

    with django_capture_on_commit_callbacks(execute=True), transaction.atomic():
        with pytest.raises(Abort), transaction.atomic():
            outbox.record(created("ORD-GONE"))  # registers the hand-off, inside the savepoint
            raise Abort
        kept = outbox.record(created("ORD-KEPT"))
    assert sent == [sorted(Delivery.objects.filter(event=kept).values_list("pk", flat=True))]


def test_without_a_bound_flow_a_new_correlation_id_is_generated() -> None:
    first = outbox.record(created("ORD-A"))
    second = outbox.record(created("ORD-B"))
    assert uuid.UUID(first.correlation_id)
    assert first.correlation_id != second.correlation_id
    assert first.causation_id is None


def test_a_rolled_back_transaction_leaves_no_events_and_dispatches_nothing(
    django_capture_on_commit_callbacks: Any,
) -> None:
    before = rows()

    class Abort(Exception):
        pass

    with (
        django_capture_on_commit_callbacks(execute=False) as callbacks,
        pytest.raises(Abort),
        transaction.atomic(),
    ):
        outbox.record(created("ORD-GONE"))
        outbox.record(status_updated("ORD-GONE"))
        assert Event.objects.filter(aggregate_id="ORD-GONE").count() == 2
        raise Abort
    assert rows() == before
    assert callbacks == []
    # The sequence counter rolled back with it: the aggregate starts again at 1.
    assert outbox.record(created("ORD-GONE")).sequence == 1


# --- per-aggregate sequence numbers ---------------------------------------------------------


def test_sequence_numbers_count_per_aggregate() -> None:
    a = [
        outbox.record(created("ORD-A")),
        outbox.record(status_updated("ORD-A", "confirmed")),
        outbox.record(status_updated("ORD-A", "rejected")),
    ]
    b = [outbox.record(created("ORD-B")), outbox.record(status_updated("ORD-B"))]
    a.append(outbox.record(status_updated("ORD-A", "pending")))
    assert [e.sequence for e in a] == [1, 2, 3, 4]
    assert [e.sequence for e in b] == [1, 2]


def test_events_of_different_types_share_their_aggregates_sequence() -> None:
    sequences = [
        outbox.record(created("ORD-1")).sequence,
        outbox.record(
            reserved(ReservedLine(product_id="PROD-001", quantity=2, remaining_stock=98))
        ).sequence,
        outbox.record(status_updated("ORD-1")).sequence,
    ]
    assert sequences == [1, 2, 3]


def test_the_same_id_in_another_aggregate_type_has_its_own_sequence() -> None:
    outbox.record(created("7"))
    outbox.record(status_updated("7"))
    failed = outbox.record(
        EventProcessingFailed(
            delivery_id=7,
            original_event_id=str(uuid.uuid4()),
            original_event_type="order.created",
            subscriber="inventory.reserve_stock",
            error="boom",
            attempts=5,
            failed_at=1,
        )
    )
    assert (failed.aggregate_type, failed.aggregate_id, failed.sequence) == ("delivery", "7", 1)


def test_the_stored_counter_holds_the_last_sequence() -> None:
    for _ in range(3):
        outbox.record(status_updated("ORD-C"))
    assert AggregateSequence.objects.get(aggregate_type="order", aggregate_id="ORD-C").last == 3
    assert outbox.next_sequence("order", "ORD-C") == 4
    assert outbox.next_sequence("order", "ORD-D") == 1


def test_status_signals_are_recorded_in_order() -> None:
    for status in ("confirmed", "rejected"):
        order_status_updated.send(sender=Order, event=status_updated("ORD-S", status))
    stored = list(Event.objects.filter(aggregate_id="ORD-S").order_by("sequence"))
    assert [(e.sequence, e.data["status"]) for e in stored] == [(1, "confirmed"), (2, "rejected")]


# --- declarations ---------------------------------------------------------------------------

SEED_EVENT_TYPES = {
    "order.created": "order-service",
    "inventory.updated": "inventory-service",
    "inventory.check.failed": "inventory-service",
    "order.status.updated": "order-service",
    "event.processing.failed": "eventhub",
}


def test_the_seed_event_types_are_declared() -> None:
    declared = {s.event_type: s for s in all_specs()}
    assert set(SEED_EVENT_TYPES) <= set(declared)
    for event_type, source in SEED_EVENT_TYPES.items():
        assert declared[event_type].source == source
        assert declared[event_type].version >= 1


def test_every_declared_event_type_is_dotted_lower_case() -> None:
    for spec in all_specs():
        assert declarations.EVENT_TYPE_RE.match(spec.event_type), spec.event_type
        assert spec.payload.spec is spec


def test_an_event_type_is_named_dotted_lower_case() -> None:
    with pytest.raises(ValueError, match="OrderCreated"):
        event("OrderCreated", source="t", aggregate="t", aggregate_key="x")


def test_an_event_payload_must_be_a_domain_event_dataclass() -> None:
    class NotADataclass(DomainEvent):
        pass

    with pytest.raises(TypeError, match="NotADataclass"):
        event(f"t{uuid.uuid4().hex}.happened", source="t", aggregate="t", aggregate_key="x")(
            NotADataclass
        )


def test_an_event_type_cannot_be_declared_twice() -> None:
    @dataclass(frozen=True)
    class Impostor(DomainEvent):
        order_id: str

    with pytest.raises(ValueError, match="declared twice"):
        event("order.created", source="t", aggregate="order", aggregate_key="order_id")(Impostor)
    assert spec_for("order.created").payload is OrderCreated


def test_an_unknown_event_type_is_named() -> None:
    with pytest.raises(UnsupportedEventVersion, match="no.such.event"):
        spec_for("no.such.event")


# --- versions and upcasters -----------------------------------------------------------------


@pytest.fixture
def throwaway_types() -> Iterator[list[str]]:
    """Event types declared by a test, removed from the registry afterwards."""
    declared: list[str] = []
    yield declared
    for event_type in declared:
        declarations._SPECS.pop(event_type, None)


def declare_widget_v3(throwaway_types: list[str], *, upcasters_from: tuple[int, ...]) -> str:
    """A widget event at version 3: v1 ``name`` became ``title`` in v2; v3 added ``size``."""
    event_type = f"test{uuid.uuid4().hex[:12]}.widget.renamed"

    @event(event_type, version=3, source="test", aggregate="widget", aggregate_key="widget_id")
    @dataclass(frozen=True)
    class WidgetRenamed(DomainEvent):
        widget_id: str
        title: str
        size: int

    throwaway_types.append(event_type)
    if 1 in upcasters_from:

        @upcaster(event_type, from_version=1)
        def v1_to_v2(data: dict[str, Any]) -> dict[str, Any]:
            data = dict(data)
            data["title"] = data.pop("name")
            return data

    if 2 in upcasters_from:

        @upcaster(event_type, from_version=2)
        def v2_to_v3(data: dict[str, Any]) -> dict[str, Any]:
            return {**data, "size": 1}

    return event_type


def test_upcasters_lift_version_1_through_2_to_the_current_version_3(
    throwaway_types: list[str],
) -> None:
    spec = spec_for(declare_widget_v3(throwaway_types, upcasters_from=(1, 2)))
    assert spec.version == 3
    lifted = spec.upcast(1, {"widgetId": "W-1", "name": "old"})
    assert lifted == {"widgetId": "W-1", "title": "old", "size": 1}
    assert spec.upcast(2, {"widgetId": "W-1", "title": "t"}) == {
        "widgetId": "W-1",
        "title": "t",
        "size": 1,
    }
    current = {"widgetId": "W-1", "title": "t", "size": 9}
    assert spec.upcast(3, current) == current


def test_a_handler_is_given_a_stored_version_1_event_at_the_current_version(
    throwaway_types: list[str],
) -> None:
    event_type = declare_widget_v3(throwaway_types, upcasters_from=(1, 2))
    stored = Event.objects.create(
        event_type=event_type,
        version=1,
        source="test",
        aggregate_type="widget",
        aggregate_id="W-1",
        sequence=1,
        timestamp=1,
        data={"widgetId": "W-1", "name": "old"},
        correlation_id="flow-w",
    )
    received = decode(stored, attempt=1)
    assert received.version == 3
    assert received.data == spec_for(event_type).payload(widget_id="W-1", title="old", size=1)
    assert received.correlation_id == "flow-w"
    # The stored row itself is left as it was written.
    stored.refresh_from_db()
    assert stored.data == {"widgetId": "W-1", "name": "old"}


@pytest.mark.parametrize(
    "version",
    [pytest.param(0, id="zero"), pytest.param(-1, id="negative"), pytest.param(4, id="newer")],
)
def test_an_unsupported_version_raises_naming_the_version(
    throwaway_types: list[str], version: int
) -> None:
    event_type = declare_widget_v3(throwaway_types, upcasters_from=(1, 2))
    with pytest.raises(UnsupportedEventVersion) as caught:
        spec_for(event_type).upcast(version, {"widgetId": "W-1"})
    message = str(caught.value)
    assert f"version {version} is not supported" in message
    assert event_type in message
    assert "current version is 3" in message


@pytest.mark.parametrize(
    ("missing", "stored_version"),
    [
        pytest.param(1, 1, id="no-upcaster-from-1"),
        pytest.param(2, 1, id="no-upcaster-from-2-reached-from-1"),
        pytest.param(2, 2, id="no-upcaster-from-2"),
    ],
)
def test_a_gap_in_the_upcaster_chain_raises_naming_the_version(
    throwaway_types: list[str], missing: int, stored_version: int
) -> None:
    present = tuple(v for v in (1, 2) if v != missing)
    event_type = declare_widget_v3(throwaway_types, upcasters_from=present)
    with pytest.raises(UnsupportedEventVersion) as caught:
        spec_for(event_type).upcast(stored_version, {"widgetId": "W-1", "name": "n"})
    message = str(caught.value)
    assert f"version {stored_version} is not supported" in message
    assert f"no upcaster from version {missing} to {missing + 1}" in message


def test_an_unsupported_version_is_not_retried() -> None:
    # The delivery machinery dead-letters NonRetryableError instead of retrying it (R2).
    assert issubclass(UnsupportedEventVersion, NonRetryableError)


def test_a_stored_event_of_an_unknown_version_cannot_be_decoded(
    throwaway_types: list[str],
) -> None:
    event_type = declare_widget_v3(throwaway_types, upcasters_from=(1, 2))
    stored = Event.objects.create(
        event_type=event_type,
        version=7,
        source="test",
        aggregate_type="widget",
        aggregate_id="W-1",
        sequence=1,
        timestamp=1,
        data={},
        correlation_id="flow-w",
    )
    with pytest.raises(UnsupportedEventVersion, match="version 7"):
        decode(stored, attempt=1)
