"""Ordering (seed 7.1): events carry per-aggregate sequence numbers, and the order-status
projection ignores an ``order.status.updated`` older than the newest it has applied."""

from __future__ import annotations

import itertools
import uuid

import pytest
from django.db import transaction
from django.utils import timezone

from eventhub.bus import dispatch, outbox
from eventhub.models import Delivery, Event
from notifications.models import Notification, OrderStatusView
from notifications.selectors import order_status_of
from notifications.services import StatusChange, order_status_apply
from orders.events import OrderStatusUpdated
from tests.conftest import wait_until

ORDER = "ORD-ORDERING-1"
# The statuses are arbitrary here: the projection applies whatever is newest, it does not
# check the order's state machine (orders.services does, before publishing).


def _change(sequence: int, previous: str, status: str) -> StatusChange:
    return StatusChange(
        order_id=ORDER,
        user_id="user-1",
        status=status,
        previous_status=previous,
        reason="",
        sequence=sequence,
        event_id=str(uuid.uuid4()),
    )


@pytest.mark.django_db
@pytest.mark.parametrize(
    "arrival", list(itertools.permutations([1, 2, 3])), ids=lambda p: "-".join(map(str, p))
)
def test_the_projection_holds_the_highest_sequence_whatever_the_arrival_order(arrival):
    changes = {
        1: _change(1, "pending", "confirmed"),
        2: _change(2, "confirmed", "cancelled"),
        3: _change(3, "cancelled", "rejected"),
    }
    applied = [order_status_apply(change=changes[seq]) for seq in arrival]

    view = order_status_of(order_id=ORDER)
    assert (view.status, view.sequence) == ("rejected", 3)
    # Applied exactly when it was newer than everything before it.
    assert applied == [seq == max(arrival[: i + 1]) for i, seq in enumerate(arrival)]


@pytest.mark.django_db
def test_a_repeated_sequence_is_not_applied_again():
    assert order_status_apply(change=_change(4, "pending", "confirmed"))
    assert not order_status_apply(change=_change(4, "pending", "rejected"))
    assert order_status_of(order_id=ORDER).status == "confirmed"


@pytest.mark.integration
@pytest.mark.django_db(transaction=True)
def test_status_updates_delivered_newest_first_leave_the_newest_status(worker, relay):
    with transaction.atomic():
        events = [
            outbox.record(
                OrderStatusUpdated(
                    order_id=ORDER, user_id="user-1", status=status, previous_status=previous
                )
            )
            for previous, status in [("pending", "confirmed"), ("confirmed", "cancelled")]
        ]
        events.append(
            outbox.record(
                OrderStatusUpdated(
                    order_id=ORDER,
                    user_id="user-1",
                    status="rejected",
                    previous_status="cancelled",
                    reason="a support agent's correction",
                )
            )
        )
        # Held back: claimed for dispatch, so neither the commit nor the relay sends them.
        Delivery.objects.filter(event__in=events).update(dispatched_at=timezone.now())
    assert [e.sequence for e in events] == [1, 2, 3]

    for event in reversed(events):  # newest first: 3, then 2, then 1
        deliveries = Delivery.objects.filter(event=event)
        deliveries.update(dispatched_at=None)
        dispatch.dispatch(list(deliveries.values_list("pk", flat=True)))
        wait_until(
            lambda deliveries=deliveries: not deliveries.exclude(status="succeeded").exists(),
            message=f"sequence {event.sequence} to be handled",
        )

    view = OrderStatusView.objects.get(pk=ORDER)
    assert (view.status, view.previous_status, view.sequence) == ("rejected", "cancelled", 3)
    assert str(view.event_id) == str(events[2].event_id)
    # Only the newest outcome was mailed; the stale ones were recognised as such.
    outcomes = Notification.objects.filter(order_id=ORDER, kind="order_outcome")
    assert [n.subject for n in outcomes] == [f"Order {ORDER} is rejected"]
    assert Event.objects.filter(aggregate_id=ORDER).count() == 3
