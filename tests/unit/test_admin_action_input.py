"""The admin's actions and forms that take ids and times, over HTTP: a value that is not one
(``_selected_action=abc``, a time out of range) is refused with the admin's message or a 400
naming the field, never a 500, and nothing is written. And "select all N" carries the
selection compactly to the replay's confirmation page, which replays what was selected."""

from __future__ import annotations

import re

import pytest
from django.contrib.admin.models import LogEntry
from django.contrib.auth.models import User
from django.contrib.messages import get_messages
from django.test import Client

from eventhub.models import DeadLetter, Delivery, Event, RetryBatch, SubscriberPause
from orders.services import ItemInput, order_place
from tests.integration.saga import reserve_stock_of
from tests.integration.test_dead_letter_admin import make_dead_letters
from tests.unit import admin_clients

catalog = admin_clients.catalog  # fixtures: the catalog for every test, a superuser client
root = admin_clients.root

pytestmark = pytest.mark.django_db

PROJECTION = "orders.record_saga_step"
EVENTS = "/admin/eventhub/event/"


def flow(correlation_id: str, orders: int = 1) -> list[int]:
    """``orders`` orders with their stock reserved, as one flow; its events' ids."""
    pks: list[int] = []
    for _ in range(orders):
        order = order_place(user_id="user-1", items=[ItemInput("PROD-001", 1, None)])
        reserve_stock_of(order)
        events = Event.objects.filter(aggregate_id=order.order_id)
        events.update(correlation_id=correlation_id)
        pks.extend(events.values_list("pk", flat=True))
    return pks


def written() -> tuple[int, int, int, list[tuple[int, str]]]:
    return (
        RetryBatch.objects.count(),
        LogEntry.objects.count(),
        SubscriberPause.objects.filter(resumed_at__isnull=False).count(),
        list(Delivery.objects.order_by("pk").values_list("pk", "status")),
    )


BAD_IDS = ["abc", "1.5", "", "99999999999999999999999", "-99999999999999999999999"]


@pytest.mark.parametrize("bad", BAD_IDS)
@pytest.mark.parametrize(
    ("changelist", "action", "extra"),
    [
        (EVENTS, "replay_flows", {}),
        (EVENTS, "replay_flows", {"apply": "1", "rate": "5", "reason": "rebuild"}),
        ("/admin/eventhub/deadletter/", "retry_selected", {}),
        ("/admin/eventhub/deadletter/", "discard_selected", {"apply": "1", "reason": "dup"}),
        ("/admin/eventhub/retrybatch/", "cancel_selected", {}),
        ("/admin/eventhub/subscriberpause/", "resume_selected", {}),
        ("/admin/auth/user/", "delete_selected", {}),
    ],
)
def test_an_action_on_an_id_that_is_not_one_is_refused_and_does_nothing(
    root: Client, changelist: str, action: str, extra: dict[str, str], bad: str
) -> None:
    flow("flow-1")
    make_dead_letters(1)
    before = written()
    # As the list posts it (with "index"), and as a confirmation page posts it (without).
    for index in ({"index": "0"}, {}):
        response = root.post(
            changelist, {"action": action, "_selected_action": ["1", bad], **index, **extra}
        )
        assert response.status_code == 302, response.content[:300]
        assert response["Location"] == changelist
        messages = [str(m) for m in get_messages(response.wsgi_request)]
        assert any(m.startswith("Nothing done: _selected_action: ") for m in messages), messages
        assert written() == before
    assert User.objects.filter(username="root").exists()


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"since": "2026-13-45T00:00:00Z"}, "since: "),
        ({"since": "9999-12-31T23:59:59-23:59", "until": "9999-12-31T23:59:59+00:00"}, "since: "),
        ({"until": "0001-01-01T00:00:00+14:00"}, "until: "),
        ({"until": "2026-12-01T17:00:00+99:00"}, "until: "),
        ({"rate": "abc"}, "rate"),
        ({"rate": str(10**30)}, "rate"),
        ({"status": "abc"}, "status"),
    ],
)
def test_the_redrive_form_refuses_times_and_numbers_that_are_not_ones(
    root: Client, change: dict[str, str], field: str
) -> None:
    flow("flow-1")
    form = {"subscriber": PROJECTION, "since": "2020-01-01T00:00:00Z",
            "until": "2100-01-01T00:00:00Z", "status": "all", "rate": "20",
            "reason": "x", "apply": "1", **change}  # fmt: skip
    response = root.post("/admin/eventhub/retrybatch/redrive/", form)
    assert response.status_code == 400
    html = response.content.decode()
    assert field in html or "errorlist" in html
    assert not RetryBatch.objects.exists() and not LogEntry.objects.exists()


@pytest.mark.parametrize("version", ["abc", "9999-99-99T99:99:99", ""])
def test_edit_and_retry_refuses_a_version_that_is_not_a_time(root: Client, version: str) -> None:
    [pk] = make_dead_letters(1)
    before = written()
    response = root.post(
        f"/admin/eventhub/deadletter/{pk}/edit/",
        {"data": "{}", "version": version, "reason": "typo", "step": "confirm"},
    )
    assert response.status_code == 400
    assert "version" in response.content.decode()
    assert written() == before and DeadLetter.objects.filter(pk=pk).exists()


# --- "select all N events" and replay ----------------------------------------------------------


def selected_inputs(html: str) -> list[str]:
    return re.findall(r'name="_selected_action" value="([^"]*)"', html)


def confirmation_across(client: Client, query: str, visible: list[int]) -> str:
    """The replay's confirmation page for "select all" of the list at ``query``, posted as
    the list does: the visible page's ticked ids, and select_across."""
    response = client.post(
        f"{EVENTS}?{query}",
        {"action": "replay_flows", "index": "0", "select_across": "1",
         "_selected_action": visible},
    )  # fmt: skip
    assert response.status_code == 200
    return response.content.decode()


def test_a_select_all_confirmation_does_not_grow_with_the_selection(root: Client) -> None:
    small = flow("flow-small", orders=1)
    large = flow("flow-large", orders=12)
    assert len(large) >= 10 * len(small)
    small_page = confirmation_across(root, "q=flow-small", small)
    large_page = confirmation_across(root, "q=flow-large", large)
    assert len(selected_inputs(small_page)) == len(selected_inputs(large_page)) == 1
    assert 'name="select_across" value="1"' in large_page
    assert f"{len(large)} event(s), all that match" in large_page
    assert abs(len(large_page) - len(small_page)) < 100  # the ids and counts differ in digits


def test_confirming_a_select_all_replays_what_the_list_selected(root: Client) -> None:
    chosen = flow("flow-chosen", orders=3)
    flow("flow-other", orders=1)
    page = confirmation_across(root, "q=flow-chosen", chosen[:1])
    [carried] = selected_inputs(page)
    response = root.post(
        f"{EVENTS}?q=flow-chosen",
        {"action": "replay_flows", "select_across": "1", "_selected_action": [carried],
         "apply": "1", "rate": "5", "reason": "rebuild"},
    )  # fmt: skip
    assert response.status_code == 302
    batch = RetryBatch.objects.get()
    replayed = {Event.objects.get(pk=pk).correlation_id for pk, _ in batch.replays}
    assert replayed == {"flow-chosen"}
    projected = Event.objects.filter(correlation_id="flow-chosen", event_type="inventory.updated")
    assert batch.total == projected.count() == 3


def test_without_select_all_the_confirmation_carries_the_ticked_ids(root: Client) -> None:
    pks = flow("flow-1", orders=2)
    response = root.post(
        EVENTS, {"action": "replay_flows", "index": "0", "_selected_action": pks[:3]}
    )
    assert sorted(selected_inputs(response.content.decode())) == sorted(map(str, pks[:3]))


def test_a_select_all_discard_confirmation_carries_one_id_and_discards_what_matches(
    root: Client,
) -> None:
    dead = make_dead_letters(3)
    page = root.post(
        "/admin/eventhub/deadletter/",
        {"action": "discard_selected", "index": "0", "select_across": "1",
         "_selected_action": dead},
    )  # fmt: skip
    html = page.content.decode()
    assert page.status_code == 200 and "Discard 3 dead letter(s)?" in html
    [carried] = selected_inputs(html)
    done = root.post(
        "/admin/eventhub/deadletter/",
        {"action": "discard_selected", "select_across": "1", "_selected_action": [carried],
         "apply": "1", "reason": "duplicates"},
    )  # fmt: skip
    assert done.status_code == 302
    assert set(
        Delivery.objects.filter(status=Delivery.Status.DISCARDED).values_list("pk", flat=True)
    ) == set(dead)
