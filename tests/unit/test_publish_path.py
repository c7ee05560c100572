"""The publish path (issue 11): what ``POST /orders`` and the after-commit hand-off cost in
statements, and that the shortcuts answer exactly what the long way did.

Plain ``django_db`` tests: on-commit callbacks are captured, not run, so a request's queries
here are its own transaction's; the hand-off is called directly where a test looks at it.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest
from django.db import connection, transaction
from django.test import Client
from django.test.utils import CaptureQueriesContext

from eventhub import db_pool, tracing
from eventhub.bus import dispatch, outbox
from eventhub.models import Delivery
from orders.events import OrderStatusUpdated
from orders.models import SagaStep

pytestmark = pytest.mark.django_db

ORDER = {
    "userId": "user-pp",
    "items": [{"productId": "PROD-001", "quantity": 2}, {"productId": "PROD-003", "quantity": 1}],
    "shippingAddress": {
        "name": "Ada",
        "line1": "1 Analytical St",
        "city": "London",
        "postalCode": "N1 9GU",
        "country": "gb",
    },
}


@pytest.fixture
def client() -> Client:
    return Client(raise_request_exception=False)


def _reads_of_orders(queries: list[dict[str, Any]]) -> list[str]:
    return [
        q["sql"]
        for q in queries
        if q["sql"].startswith("SELECT") and '"orders_' in q["sql"].split(" FROM ", 1)[-1]
    ]


@pytest.mark.parametrize("path", ["/orders", "/shop/orders"])
def test_placing_an_order_answers_what_a_read_returns_without_reading_it_back(
    client: Client, path: str
) -> None:
    with CaptureQueriesContext(connection) as queries:
        response = client.post(path, json.dumps(ORDER), content_type="application/json")
    assert response.status_code == 201, response.content
    assert _reads_of_orders(queries.captured_queries) == []
    placed = response.json()["data"]
    read = client.get(f"/orders/{placed['orderId']}").json()["data"]
    assert placed == read
    assert [i["productId"] for i in placed["items"]] == ["PROD-001", "PROD-003"]
    assert [s["step"] for s in placed["saga"]["steps"]] == list(SagaStep.ORDER)


def test_a_placed_orders_related_rows_still_filter_in_the_database() -> None:
    from orders.services import ItemInput, order_place

    order = order_place(user_id="u", items=[ItemInput("PROD-001", 1, None)])
    assert [line.product_id for line in order.lines.all()] == ["PROD-001"]
    assert order.lines.filter(product_id="PROD-002").count() == 0
    assert order.saga_steps.filter(position=1).get().name == SagaStep.ORDER[0]


def test_an_event_inside_a_transaction_takes_no_savepoint_of_its_own() -> None:
    with transaction.atomic(), CaptureQueriesContext(connection) as queries:
        outbox.record(
            OrderStatusUpdated(
                order_id="ORD-SP", user_id="u", status="confirmed", previous_status="pending"
            )
        )
    assert not [q for q in queries.captured_queries if "SAVEPOINT" in q["sql"]]


def _recorded(count: int) -> list[int]:
    ids: list[int] = []
    with transaction.atomic():
        for i in range(count):
            event = outbox.record(
                OrderStatusUpdated(
                    order_id=f"ORD-D{i}", user_id="u", status="confirmed", previous_status="pending"
                )
            )
            ids += list(event.deliveries.order_by("pk").values_list("pk", flat=True))
    return ids


@pytest.fixture
def sent(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, list[tuple[int, int, str]]]]:
    messages: list[tuple[str, list[tuple[int, int, str]]]] = []
    monkeypatch.setattr(
        dispatch, "_send", lambda queue, rows, *_: messages.append((queue, list(rows)))
    )
    return messages


def test_the_hand_off_claims_with_one_statement_and_sends_in_recorded_order(
    sent: list[tuple[str, list[tuple[int, int, str]]]], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(tracing, "dispatch_span_wanted", lambda: False)  # a span is current
    ids = _recorded(3)
    with CaptureQueriesContext(connection) as queries:
        assert dispatch.dispatch(list(reversed(ids))) == len(ids)
    assert len(queries.captured_queries) == 1
    assert "RETURNING" in queries.captured_queries[0]["sql"]
    by_pk = {d.pk: d for d in Delivery.objects.filter(pk__in=ids)}
    for queue, rows in sent:
        assert [pk for pk, _, _ in rows] == sorted(pk for pk, _, _ in rows)
        for pk, seq, subscriber in rows:
            row = by_pk[pk]
            assert (row.queue, row.dispatch_seq, row.subscriber) == (queue, seq, subscriber)
            assert seq == 1 and row.dispatched_at is not None
    assert sorted(pk for _, rows in sent for pk, _, _ in rows) == sorted(ids)
    # Claimed once: a second hand-off of the same rows sends nothing.
    assert dispatch.dispatch(ids) == 0


def test_the_relays_hand_off_reads_the_events_its_dispatch_spans_describe(
    sent: list[tuple[str, list[tuple[int, int, str]]]], monkeypatch: pytest.MonkeyPatch
) -> None:
    spans: list[dict[str, Any]] = []

    def dispatch_span(**attributes: Any) -> Any:
        spans.append(attributes)
        return transaction.atomic()  # any context manager

    monkeypatch.setattr(tracing, "dispatch_span_wanted", lambda: True)
    monkeypatch.setattr(tracing, "dispatch_span", dispatch_span)
    ids = _recorded(1)
    with CaptureQueriesContext(connection) as queries:
        dispatch.dispatch(ids)
    assert len(queries.captured_queries) >= 2  # the claim, then the events it needs
    assert spans and {s["event_type"] for s in spans} == {"order.status.updated"}
    assert all(s["trace_context"] is not None for s in spans)


def test_the_web_process_pools_postgresql_connections_only() -> None:
    postgres: dict[str, Any] = {
        "ENGINE": "django.db.backends.postgresql",
        "CONN_MAX_AGE": 60,
        "OPTIONS": {},
    }
    assert db_pool.use_pool(postgres, size=0) is False
    assert "pool" not in postgres["OPTIONS"]
    assert db_pool.use_pool(postgres, size=8) is True
    assert postgres["CONN_MAX_AGE"] == 0  # Django refuses a pool with persistent connections
    assert postgres["OPTIONS"]["pool"]["max_size"] == 8
    sqlite: dict[str, Any] = {"ENGINE": "django.db.backends.sqlite3", "OPTIONS": {}}
    assert db_pool.use_pool(sqlite, size=8) is False
    assert "pool" not in sqlite["OPTIONS"]


def test_the_idempotency_record_is_one_statement_and_a_repeat_leaves_the_transaction_usable() -> (
    None
):
    from eventhub.bus.delivery import _remember
    from eventhub.models import ProcessedEvent

    event_id = uuid.uuid4()
    with transaction.atomic():
        with CaptureQueriesContext(connection) as queries:
            assert _remember("sub.a", event_id, 0) is True
        assert len(queries.captured_queries) == 1
        assert _remember("sub.a", str(event_id), 0) is False  # already applied: nothing written
        assert _remember("sub.a", event_id, 1) is True  # its first replay applies once more
        assert _remember("sub.b", event_id, 0) is True
        assert ProcessedEvent.objects.filter(event_id=event_id).count() == 3  # still usable


@pytest.mark.django_db(transaction=True)
def test_an_autocommit_claim_skips_only_its_own_flush_wait(
    sent: list[tuple[str, list[tuple[int, int, str]]]], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Outside a transaction the claim is one round trip; on PostgreSQL it commits without
    waiting for its WAL flush, and the session's own setting stays as it was."""
    monkeypatch.setattr(tracing, "dispatch_span_wanted", lambda: False)
    with CaptureQueriesContext(connection) as queries:
        ids = _recorded(2)  # commits: the hand-off runs
    statements = [q["sql"] for q in queries.captured_queries]
    after_commit = statements[statements.index("COMMIT") + 1 :]
    assert len(after_commit) == 1 and "RETURNING" in after_commit[0]
    postgres = connection.vendor == "postgresql"
    assert ("synchronous_commit TO off" in after_commit[0]) is postgres
    assert sorted(pk for _, rows in sent for pk, _, _ in rows) == sorted(ids)
    assert set(Delivery.objects.filter(pk__in=ids).values_list("dispatch_seq", flat=True)) == {1}
    if postgres:
        with connection.cursor() as cursor:
            cursor.execute("SHOW synchronous_commit")
            assert cursor.fetchone()[0] == "on"
    with transaction.atomic():  # inside a caller's transaction: its commit stays synchronous
        assert dispatch._no_flush_wait() == ""


@pytest.mark.parametrize("leased", [False, True], ids=["one-transaction", "leased"])
def test_a_workers_claim_is_one_update_and_passes_over_a_paused_subscriber(leased: bool) -> None:
    """Both claims of an attempt (straight to succeeded, or running under a lease) are one
    conditional UPDATE, whether they take the delivery or refuse it for a pause."""
    from django.utils import timezone

    from eventhub.bus import delivery
    from eventhub.models import SubscriberPause

    def claim(row: Delivery) -> bool:
        if leased:
            return delivery._claim(row.pk, row.dispatch_seq, 30.0)
        return delivery._claim_to_success(row.pk, row.dispatch_seq)

    ids = _recorded(2)
    taken = Delivery.objects.get(pk=ids[0])
    held = Delivery.objects.exclude(event=taken.event).get(pk__in=ids, subscriber=taken.subscriber)
    with CaptureQueriesContext(connection) as queries:
        assert claim(taken) is True
    assert len(queries.captured_queries) == 1
    assert queries.captured_queries[0]["sql"].startswith("UPDATE")
    taken.refresh_from_db()
    assert taken.attempts == 1
    assert taken.status == (Delivery.Status.RUNNING if leased else Delivery.Status.SUCCEEDED)
    assert (taken.lease_expires_at is not None) is leased
    assert claim(taken) is False  # claimed once: a duplicate message takes nothing

    SubscriberPause.objects.create(subscriber=held.subscriber, paused_at=timezone.now())
    with CaptureQueriesContext(connection) as queries:
        assert claim(held) is False
    assert len(queries.captured_queries) == 1
    held.refresh_from_db()
    assert (held.status, held.attempts) == (Delivery.Status.PENDING, 0)
