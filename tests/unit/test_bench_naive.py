"""The benchmark's naive peer (issue 11): a plain task and a plain order view, measured beside
the bus. Only what they write is tested here; their speed is the benchmark's business.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.apps import apps
from django.conf import settings
from django.test import Client

from eventhub.devtools.bench import naive
from eventhub.models import Attempt, Delivery, Event

pytestmark = pytest.mark.bench


@pytest.mark.django_db
def test_the_naive_task_writes_the_three_rows_of_one_delivery() -> None:
    naive.naive.run("run-1", 7, 1_700_000_000.0)  # the task's body, no broker
    event = Event.objects.get(aggregate_id="run-1-7")
    delivery = Delivery.objects.get(event=event)
    assert delivery.subscriber == naive.SUBSCRIBER
    assert delivery.status == Delivery.Status.SUCCEEDED
    attempt = Attempt.objects.get(delivery=delivery)
    assert attempt.outcome == Attempt.Outcome.SUCCEEDED
    assert list(naive.naive_runs("run-1")) == [delivery]


@pytest.mark.django_db
def test_the_naive_order_view_writes_the_order_rows_and_enqueues_on_commit(
    settings: Any, django_capture_on_commit_callbacks: Any
) -> None:
    settings.ROOT_URLCONF = "eventhub.devtools.bench.urls"
    apps.get_model("inventory", "Product").objects.create(
        product_id="P-1", name="Thing", price=3, stock=5
    )
    body = {"userId": "u1", "items": [{"productId": "P-1", "quantity": 2}]}
    with django_capture_on_commit_callbacks() as callbacks:
        response = Client().post(
            "/bench/naive/orders", json.dumps(body), content_type="application/json"
        )
    assert response.status_code == 201
    order = apps.get_model("orders", "Order").objects.get(pk=response.json()["orderId"])
    assert order.total_amount == 6
    assert [(li.product_id, li.quantity) for li in order.lines.all()] == [("P-1", 2)]
    assert order.saga_steps.count() == 3
    assert len(callbacks) == 1  # delay_on_commit: one task, after the commit
    assert not Event.objects.exists()  # no outbox


@pytest.mark.django_db
def test_the_naive_order_view_refuses_an_unknown_product(settings: Any) -> None:
    settings.ROOT_URLCONF = "eventhub.devtools.bench.urls"
    body = {"userId": "u1", "items": [{"productId": "NOPE", "quantity": 1}]}
    response = Client().post(
        "/bench/naive/orders", json.dumps(body), content_type="application/json"
    )
    assert response.status_code == 400
    assert "NOPE" in response.json()["error"]


def test_the_naive_view_is_not_served_by_the_system() -> None:
    assert settings.ROOT_URLCONF == "eventhub.urls"
    assert Client().post("/bench/naive/orders").status_code == 404
