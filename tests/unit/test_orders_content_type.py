"""POST /orders takes JSON only: any other Content-Type is a 415 that writes nothing (a text or
form body that happened to parse as JSON used to create an order)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.test import Client

from .test_orders_api_bad_input import SEED_ORDER, written

pytestmark = pytest.mark.django_db

REFUSED = {"success": False, "error": "Content-Type must be application/json"}
BODY = json.dumps(SEED_ORDER)


@pytest.fixture
def client() -> Client:
    return Client(raise_request_exception=False)


def assert_refused(response: Any) -> None:
    assert response.status_code == 415, response.content
    assert response["Content-Type"] == "application/json"
    assert json.loads(response.content) == REFUSED


@pytest.mark.parametrize(
    "content_type",
    [
        "text/plain",
        "text/plain; charset=utf-8",
        "application/x-www-form-urlencoded",
        "text/json",
        "application/jsonp",
        "application/merge-patch+json",
        "application/problem+json",
        "application/json-seq",
        "application",
        "",
    ],
)
def test_a_body_not_declared_as_json_is_a_415_that_writes_nothing(
    client: Client, content_type: str
) -> None:
    before = written()
    assert_refused(client.post("/orders", BODY, content_type=content_type))
    assert written() == before


def test_a_form_encoded_order_is_a_415(client: Client) -> None:
    before = written()
    response = client.post("/orders", {"userId": "user-123", "items": "PROD-001"})
    assert_refused(response)
    assert written() == before


def test_a_request_without_a_content_type_is_a_415(client: Client) -> None:
    before = written()
    response = client.generic("POST", "/orders", BODY.encode(), content_type="")
    assert response.wsgi_request.META.get("CONTENT_TYPE", "") == ""
    assert_refused(response)
    assert written() == before


@pytest.mark.parametrize(
    "content_type",
    [
        "application/json",
        "application/json; charset=utf-8",
        "application/json;charset=UTF-8",
        "APPLICATION/JSON",
        "Application/Json; Charset=utf-8",
    ],
)
def test_json_in_any_case_and_with_a_charset_is_accepted(client: Client, content_type: str) -> None:
    response = client.post("/orders", BODY, content_type=content_type)
    assert response.status_code == 201, response.content


def test_the_shop_form_endpoint_takes_json_only_too(client: Client) -> None:
    before = written()
    assert_refused(client.post("/shop/orders", BODY, content_type="text/plain"))
    assert written() == before
    placed = client.post("/shop/orders", BODY, content_type="application/json")
    assert placed.status_code == 201, placed.content
