"""Whoever may start a batch may follow it: a staff user with only the replay or only the
redrive permission starts one in the admin and lands on its progress page (200, read-only)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from eventhub.models import Event, RetryBatch
from orders.services import ItemInput, order_place
from tests.integration.saga import reserve_stock_of
from tests.unit.admin_clients import only

pytestmark = pytest.mark.django_db

PROJECTION = "orders.record_saga_step"


@pytest.fixture(autouse=True)
def catalog() -> None:
    from inventory.services import catalog_seed

    catalog_seed()


def flow() -> None:
    order = order_place(user_id="user-1", items=[ItemInput("PROD-001", 1, None)])
    reserve_stock_of(order)
    Event.objects.filter(aggregate_id=order.order_id).update(correlation_id="flow-1")


def assert_progress_page(client: Client, response, batch: RetryBatch) -> None:
    page = client.get(response["Location"])
    assert page.status_code == 200
    html = page.content.decode()
    assert f"progress of batch {batch.pk}" in html  # the message that started it
    assert f"{batch.done}/{batch.total}" in html  # the progress
    assert 'name="_save"' not in html  # view, not change
    progress = client.get(f"/admin/eventhub/retrybatch/{batch.pk}/progress.json")
    assert progress.status_code == 200 and progress.json()["total"] == batch.total


def test_a_user_who_may_only_redrive_follows_the_redirect_to_the_batch_progress():
    flow()
    client = only("redrive_deliveries")
    now = timezone.now()
    response = client.post(
        "/admin/eventhub/retrybatch/redrive/",
        {"subscriber": PROJECTION, "since": (now - timedelta(hours=1)).isoformat(),
         "until": (now + timedelta(hours=1)).isoformat(), "status": "all", "rate": "20",
         "reason": "rebuild", "apply": "1"},
    )  # fmt: skip
    batch = RetryBatch.objects.get()
    assert response.status_code == 302
    assert response["Location"] == f"/admin/eventhub/retrybatch/{batch.pk}/change/"
    assert_progress_page(client, response, batch)
    # The list of batches too, read-only: nothing to add, change or delete.
    listing = client.get("/admin/eventhub/retrybatch/")
    assert listing.status_code == 200
    assert client.post(f"/admin/eventhub/retrybatch/{batch.pk}/delete/").status_code == 403


def test_a_user_who_may_only_replay_replays_from_the_event_list_and_sees_the_progress():
    flow()
    client = only("replay_events")
    assert client.get("/admin/eventhub/event/").status_code == 200
    first = Event.objects.order_by("id").first()
    response = client.post(
        "/admin/eventhub/event/",
        {"action": "replay_flows", "_selected_action": [first.pk], "apply": "1", "rate": "5",
         "reason": "rebuild"},
    )  # fmt: skip
    batch = RetryBatch.objects.get()
    assert response.status_code == 302
    assert response["Location"] == f"/admin/eventhub/retrybatch/{batch.pk}/change/"
    assert_progress_page(client, response, batch)


def test_a_user_with_neither_permission_still_may_not_see_batches():
    flow()
    client = only("view_event")
    assert client.get("/admin/eventhub/retrybatch/").status_code == 403
