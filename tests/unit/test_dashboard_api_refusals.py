"""The dashboard's JSON endpoints answer every refusal in JSON: a missing or wrong CSRF token
(403) and a wrong method (405, with ``Allow``), over HTTP with the CSRF checks on. The CSRF
protection itself is unchanged: the same requests with the token are accepted, and pages
keep Django's HTML refusal."""

from __future__ import annotations

import json

import pytest
from django.contrib.auth.models import User
from django.middleware.csrf import _get_new_csrf_string
from django.test import Client

from eventhub.models import RetryBatch, SubscriberPause

pytestmark = pytest.mark.django_db

WRITES = [
    ("/dashboard/api/pauses", {"subscriber": "orders.record_saga_step", "paused": True}),
    ("/dashboard/api/flows/flow-1/replay", {"reason": "x", "dryRun": True}),
    ("/dashboard/api/dead-letters/1/retry", {}),
    ("/dashboard/api/dead-letters/1/discard", {"reason": "x"}),
    ("/dashboard/api/faults", {"subscriber": "orders.record_saga_step"}),
]


@pytest.fixture
def operator() -> Client:
    client = Client(enforce_csrf_checks=True)
    client.force_login(User.objects.create_superuser("root", password="pw"))
    return client


def post(client: Client, url: str, body: object, **headers: str):
    return client.post(url, data=json.dumps(body), content_type="application/json", **headers)


def json_error(response) -> str:
    assert response["Content-Type"] == "application/json", response.content[:200]
    return response.json()["error"]


@pytest.mark.parametrize(("url", "body"), WRITES)
def test_a_post_without_the_csrf_token_is_refused_in_json(operator: Client, url, body):
    response = post(operator, url, body)  # no cookie yet
    assert response.status_code == 403
    assert json_error(response).startswith("CSRF check failed: CSRF cookie not set")

    operator.get("/dashboard/")  # sets the csrftoken cookie
    response = post(operator, url, body)
    assert response.status_code == 403
    assert json_error(response).startswith("CSRF check failed: CSRF token missing")

    response = post(operator, url, body, HTTP_X_CSRFTOKEN=_get_new_csrf_string())
    assert response.status_code == 403
    error = json_error(response)
    assert error.startswith("CSRF check failed: CSRF token ") and "incorrect" in error
    assert not RetryBatch.objects.exists() and not SubscriberPause.objects.exists()

    token = operator.cookies["csrftoken"].value
    accepted = post(operator, url, body, HTTP_X_CSRFTOKEN=token)
    assert accepted.status_code != 403, accepted.content  # past the CSRF check


@pytest.mark.parametrize(
    ("url", "allowed"),
    [
        ("/dashboard/api/pauses", "GET, POST"),
        ("/dashboard/api/faults", "GET, POST"),
        ("/dashboard/api/flows/flow-1/replay", "POST"),
        ("/dashboard/api/dead-letters/1/retry", "POST"),
        ("/dashboard/api/dead-letters/1/discard", "POST"),
        ("/dashboard/api/flows/flow-1/spans", "GET"),
    ],
)
def test_a_wrong_method_is_a_405_in_json_with_allow(operator: Client, url: str, allowed: str):
    operator.get("/dashboard/")
    token = operator.cookies["csrftoken"].value
    wrong = "get" if "GET" not in allowed else "delete"
    response = getattr(operator, wrong)(url, HTTP_X_CSRFTOKEN=token)
    assert response.status_code == 405
    assert response["Allow"] == allowed
    assert json_error(response) == f"method {wrong.upper()} not allowed"


def test_pages_keep_djangos_html_csrf_refusal():
    client = Client(enforce_csrf_checks=True)
    response = client.post("/admin/login/", {"username": "x", "password": "y"})
    assert response.status_code == 403
    assert response["Content-Type"].startswith("text/html")
    assert "CSRF verification failed" in response.content.decode()
