"""Fault switches as the operator meets them: the dashboard's JSON API (subscribers and the
declared gateway/carrier switches), and what a switch does when it is asked."""

from __future__ import annotations

import json

import pytest
from django.contrib.auth.models import Permission, User
from django.test import Client

from eventhub.faults import InjectedFault, apply_fault, fault_fires, fault_switches
from eventhub.models import FaultRule

pytestmark = pytest.mark.django_db

URL = "/dashboard/api/faults"
SUBSCRIBER = "notifications.order_confirmation"


def staff_client(*perms: str) -> Client:
    user = User.objects.create_user("staff", password="pw", is_staff=True)
    for codename in perms:
        user.user_permissions.add(Permission.objects.get(codename=codename))
    client = Client(enforce_csrf_checks=False)
    client.force_login(user)
    return client


def post(client: Client, body: object) -> tuple[int, dict]:
    response = client.post(URL, json.dumps(body), content_type="application/json")
    return response.status_code, response.json()


def test_the_business_apps_declare_their_switches() -> None:
    assert {"payments.gateway", "shipping.carrier"} <= set(fault_switches())


@pytest.mark.parametrize("name", [SUBSCRIBER, "payments.gateway", "shipping.carrier"])
def test_an_operator_switches_a_subscriber_or_a_declared_switch(name: str) -> None:
    client = staff_client("change_faultrule")
    status, reply = post(client, {"subscriber": name, "enabled": True, "mode": "always"})
    assert status == 200, reply
    assert reply["data"]["subscriber"] == name and reply["data"]["enabled"] is True
    assert FaultRule.objects.get(subscriber=name).mode == FaultRule.Mode.ALWAYS

    listing = client.get(URL).json()["data"]
    assert [r["subscriber"] for r in listing] == [name]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"subscriber": "no.such.thing", "enabled": True, "mode": "always"}, "subscriber"),
        ({"enabled": True, "mode": "always"}, "subscriber"),
        ({"subscriber": SUBSCRIBER, "enabled": True, "mode": "sometimes"}, "mode"),
        ({"subscriber": SUBSCRIBER, "enabled": True, "mode": "percent", "percent": 101}, "percent"),
        ({"subscriber": SUBSCRIBER, "mode": "next_n", "remaining": "3"}, "remaining"),
        ({"subscriber": SUBSCRIBER, "mode": "none", "latencyMs": -1}, "latencyMs"),
    ],
)
def test_bad_input_is_a_400_naming_the_field_and_writes_nothing(body: dict, field: str) -> None:
    status, reply = post(staff_client("change_faultrule"), body)
    assert status == 400
    assert reply["success"] is False and reply["error"].startswith(f"{field}:"), reply
    assert not FaultRule.objects.exists()


def test_switching_needs_the_permission_and_reading_needs_staff() -> None:
    status, _ = post(staff_client(), {"subscriber": SUBSCRIBER, "enabled": True, "mode": "always"})
    assert status == 403
    assert not FaultRule.objects.exists()

    assert Client().get(URL).status_code == 401
    User.objects.create_user("customer", password="pw")
    customer = Client()
    customer.login(username="customer", password="pw")
    assert customer.get(URL).status_code == 403


def test_the_dashboard_offers_the_declared_switches_without_a_latency_field() -> None:
    user = User.objects.create_superuser("root", password="pw")
    client = Client()
    client.force_login(user)
    html = client.get("/dashboard/").content.decode()
    assert 'id="switch-names"' in html
    assert "payments.gateway" in html and "shipping.carrier" in html


def test_fault_fires_counts_next_n_down_and_never_sleeps() -> None:
    rule = FaultRule.objects.create(
        subscriber="payments.gateway", enabled=True, mode=FaultRule.Mode.NEXT_N, remaining=2,
        latency_ms=60_000,
    )  # fmt: skip
    assert [fault_fires("payments.gateway") for _ in range(4)] == [True, True, False, False]
    rule.refresh_from_db()
    assert rule.remaining == 0

    FaultRule.objects.filter(pk=rule.pk).update(mode=FaultRule.Mode.PERCENT, percent=100)
    assert fault_fires("payments.gateway")
    FaultRule.objects.filter(pk=rule.pk).update(percent=0)
    assert not fault_fires("payments.gateway")
    FaultRule.objects.filter(pk=rule.pk).update(mode=FaultRule.Mode.ALWAYS, enabled=False)
    assert not fault_fires("payments.gateway")
    assert not fault_fires("shipping.carrier")


def test_apply_fault_raises_as_the_rule_says() -> None:
    FaultRule.objects.create(
        subscriber=SUBSCRIBER, enabled=True, mode=FaultRule.Mode.NEXT_N, remaining=1
    )
    with pytest.raises(InjectedFault, match="fails the next 1"):
        apply_fault(SUBSCRIBER)
    apply_fault(SUBSCRIBER)  # the count is spent: no fault
    FaultRule.objects.filter(subscriber=SUBSCRIBER).update(mode=FaultRule.Mode.ALWAYS)
    with pytest.raises(InjectedFault, match="fails always"):
        apply_fault(SUBSCRIBER)
