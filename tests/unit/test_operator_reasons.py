"""An operator's reason is one line of plain text: control characters and Unicode bidi
controls (which can disguise it in the admin log and on the dashboard) are refused at every
entry point, a 400 naming the field over HTTP and a CommandError naming the option, and
nothing is written."""

from __future__ import annotations

import json

import pytest
from django.contrib.admin.models import LogEntry
from django.contrib.auth.models import User
from django.core.management import CommandError, call_command
from django.test import Client

from eventhub.bus.reasons import reason_problem
from eventhub.models import Delivery, Event, RetryBatch, SubscriberPause
from orders.services import ItemInput, order_place
from tests.integration.saga import reserve_stock_of
from tests.integration.test_dead_letter_admin import make_dead_letters
from tests.unit import admin_clients

catalog = admin_clients.catalog  # fixtures: the catalog for every test, a superuser client
root = admin_clients.root

pytestmark = pytest.mark.django_db

PROJECTION = "orders.record_saga_step"
DISGUISED = [
    "refund \u202eeslaf\u202c ok",  # RIGHT-TO-LEFT OVERRIDE
    "a\u2066b\u2069",  # LEFT-TO-RIGHT ISOLATE ... POP DIRECTIONAL ISOLATE
    "x\u202ay",
    "line one\nline two",
    "tab\there",
    "escape \x1b[31mred",
    "nul\x00",
    "sep\u2028arator",
    "del\x7f",
]


def flow() -> str:
    order = order_place(user_id="user-1", items=[ItemInput("PROD-001", 1, None)])
    reserve_stock_of(order)
    Event.objects.filter(aggregate_id=order.order_id).update(correlation_id="flow-1")
    return "flow-1"


def written() -> tuple[int, int, int, list[tuple[int, str]]]:
    return (
        RetryBatch.objects.count(),
        LogEntry.objects.count(),
        SubscriberPause.objects.count(),
        list(Delivery.objects.order_by("pk").values_list("pk", "status")),
    )


def test_the_rule():
    for reason in DISGUISED:
        assert reason_problem(reason) is not None, reason
    for reason in ["rebuild the saga steps", "café — ünïcode, 日本語, emoji 😀", "'<b>' & \"q\""]:
        assert reason_problem(reason) is None, reason


@pytest.mark.parametrize("reason", DISGUISED)
def test_the_dashboard_refuses_it_naming_the_field(root: Client, reason: str):
    flow()
    [dead] = make_dead_letters(1)
    before = written()
    for url, body in [
        ("/dashboard/api/flows/flow-1/replay", {"reason": reason}),
        ("/dashboard/api/flows/flow-1/replay", {"reason": reason, "dryRun": True}),
        (f"/dashboard/api/dead-letters/{dead}/discard", {"reason": reason}),
        ("/dashboard/api/pauses", {"subscriber": PROJECTION, "paused": True, "reason": reason}),
    ]:
        response = root.post(url, data=json.dumps(body), content_type="application/json")
        assert response.status_code == 400, (url, response.content)
        assert response.json()["error"].startswith("reason: "), response.json()
    assert written() == before


@pytest.mark.parametrize("reason", DISGUISED[:4])
def test_the_admin_refuses_it_with_a_400_on_every_form(root: Client, reason: str):
    flow()
    [dead] = make_dead_letters(1)
    first = Event.objects.order_by("id").first()
    before = written()
    for url, form in [
        ("/admin/eventhub/event/",
         {"action": "replay_flows", "_selected_action": [first.pk], "apply": "1", "rate": "5",
          "reason": reason}),
        ("/admin/eventhub/retrybatch/redrive/",
         {"subscriber": PROJECTION, "since": "2020-01-01T00:00:00Z",
          "until": "2100-01-01T00:00:00Z", "status": "all", "rate": "20", "reason": reason,
          "apply": "1"}),
        ("/admin/eventhub/deadletter/",
         {"action": "discard_selected", "_selected_action": [dead], "apply": "1",
          "reason": reason}),
        (f"/admin/eventhub/deadletter/{dead}/discard/", {"reason": reason}),
        (f"/admin/eventhub/deadletter/{dead}/edit/",
         {"data": "{}", "version": "2026-01-01T00:00:00+00:00", "reason": reason,
          "step": "confirm"}),
        ("/admin/eventhub/subscriberpause/add/", {"subscriber": PROJECTION, "reason": reason}),
    ]:  # fmt: skip
        response = root.post(url, form)
        assert response.status_code == 400, (url, response.status_code)
        html = response.content.decode()
        assert any(
            problem in html for problem in ("one line of text", "bidirectional text", "NUL")
        ), url
    assert written() == before


@pytest.mark.parametrize("reason", ["a\u202eb", "two\nlines"])
def test_the_commands_refuse_it_naming_the_option(reason: str):
    flow()
    User.objects.create_user("op")
    before = written()
    for command, args in [
        ("eventhub_replay", ["--correlation-id", "flow-1"]),
        ("eventhub_replay", ["--correlation-id", "flow-1", "--dry-run"]),
        ("eventhub_redrive", ["--subscriber", PROJECTION, "--since", "2020-01-01T00:00Z",
                              "--until", "2100-01-01T00:00Z", "--status", "all"]),
        ("eventhub_pause", [PROJECTION]),
    ]:  # fmt: skip
        with pytest.raises(CommandError, match="--reason: "):
            call_command(command, *args, "--user", "op", "--reason", reason)
    assert written() == before
