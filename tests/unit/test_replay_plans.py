"""What a replay sends, decided before anything is written (bus/replays.py), and a replay
batch carried out slice by slice by the relay's pass (bus/retry_batches.advance)."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User

from eventhub.bus import retry_batches
from eventhub.bus.replays import (
    ReplayRefused,
    flow_plan,
    replay_deliver,
    replay_start,
)
from eventhub.models import Delivery, Event, RetryBatch
from orders.services import ItemInput, order_place
from tests.integration.saga import reserve_stock_of

pytestmark = pytest.mark.django_db

PROJECTION = "orders.record_saga_step"


@pytest.fixture(autouse=True)
def catalog() -> None:
    from inventory.services import catalog_seed

    catalog_seed()


def reserved_flow() -> tuple[str, Event]:
    order = order_place(user_id="user-1", items=[ItemInput("PROD-001", 1, None)])
    reserve_stock_of(order)
    updated = Event.objects.get(event_type="inventory.updated", aggregate_id=order.order_id)
    return updated.correlation_id, updated


def test_each_replay_takes_the_next_generation():
    cid, updated = reserved_flow()
    [item] = flow_plan([cid])
    assert (item.event_pk, item.subscriber, item.generation) == (updated.pk, PROJECTION, 1)
    replay_deliver([[updated.pk, PROJECTION]])
    replay_deliver([[updated.pk, PROJECTION]])
    generations = Delivery.objects.filter(event=updated, subscriber=PROJECTION)
    assert sorted(generations.values_list("generation", flat=True)) == [0, 1, 2]
    assert flow_plan([cid])[0].generation == 3


def test_an_original_discarded_or_resolved_is_not_replayed():
    cid, updated = reserved_flow()
    Delivery.objects.filter(event=updated, subscriber=PROJECTION).update(status="discarded")
    with pytest.raises(ReplayRefused, match="nothing to replay"):
        flow_plan([cid])


def test_a_subscriber_no_longer_replayable_is_skipped_when_its_slice_comes():
    _, updated = reserved_flow()
    assert replay_deliver([[updated.pk, "payments.authorize_payment"], [999999, PROJECTION]]) == []


def test_a_replay_batch_goes_slice_by_slice_and_stops_when_cancelled():
    cids = [reserved_flow()[0] for _ in range(3)]
    user = User.objects.create_user("op", is_staff=True)
    items = flow_plan(cids)
    batch = replay_start(items, user_id=user.pk, reason="rebuild", what="three flows", rate=1)
    assert (batch.kind, batch.total) == ("replay", 3)

    retry_batches.advance()  # the first item is due at once
    batch.refresh_from_db()
    assert (batch.done, batch.requeued, len(batch.delivery_ids)) == (1, 1, 1)
    assert Delivery.objects.get(pk=batch.delivery_ids[0]).generation == 1

    assert retry_batches.retry_batch_cancel(batch_id=batch.pk, user_id=user.pk)
    retry_batches.advance()
    batch.refresh_from_db()
    assert (batch.status, batch.done) == ("cancelled", 1)
    assert Delivery.objects.filter(generation__gt=0).count() == 1


def test_a_replay_needs_a_reason_and_a_sane_rate():
    cid, _ = reserved_flow()
    items = flow_plan([cid])
    with pytest.raises(ReplayRefused, match="^reason: "):
        replay_start(items, user_id=None, reason=" ", what="x")
    with pytest.raises(ReplayRefused, match="^rate: "):
        replay_start(items, user_id=None, reason="x", what="x", rate=0)
    assert not RetryBatch.objects.exists()


def test_the_size_cap_holds_for_a_replay_of_many_flows(monkeypatch: pytest.MonkeyPatch):
    """The cap is per replay: the admin's action over many selected flows may not add up
    flows that each fit (an attacker's "select all" found it counted per flow)."""
    from eventhub.bus import replays

    flows = [reserved_flow()[0] for _ in range(3)]
    monkeypatch.setattr(replays, "MAX_REPLAY_ITEMS", 2)
    assert len(flow_plan(flows[:2])) == 2
    with pytest.raises(ReplayRefused, match="more than 2 deliveries"):
        flow_plan(flows)
