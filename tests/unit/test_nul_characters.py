"""NUL characters (U+0000) in every parameter that reaches a query: 400 naming it, or 404 for
an id in a path; never a 500. PostgreSQL's text cannot hold a NUL (``DataError``), so this
file matters most there: .ci/run runs it on SQLite and on PostgreSQL."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.conf import settings
from django.contrib.auth.models import User
from django.test import Client, override_settings

from eventhub.models import Delivery, RetryBatch
from orders.models import Order
from orders.services import ItemInput, order_place

pytestmark = pytest.mark.django_db


@pytest.fixture
def order_id() -> str:
    return order_place(user_id="user-1", items=[ItemInput("PROD-001", 1, None)]).order_id


@pytest.fixture
def anonymous() -> Client:
    return Client(raise_request_exception=False)


@pytest.fixture
def superuser() -> Client:
    client = Client(raise_request_exception=False)
    client.force_login(User.objects.create_superuser("root", password="pw"))
    return client


def assert_json_error(response: Any, status: int, starts: str) -> None:
    assert response.status_code == status, response.content
    assert response["Content-Type"] == "application/json"
    body = json.loads(response.content)
    assert body["success"] is False
    assert body["error"].startswith(starts), body


def assert_plain_error(response: Any, status: int, starts: str) -> None:
    assert response.status_code == status, response.content[:500]
    assert response["Content-Type"].startswith("text/plain")
    assert response["X-Content-Type-Options"] == "nosniff"  # never sniffed into HTML
    assert response.content.decode().startswith(starts)


API_PARAMS = [
    ("/events?eventType=%00", "eventType"),
    ("/events?correlationId=%00", "correlationId"),
    ("/events?correlationId=abc%00def", "correlationId"),
    ("/events?since=%00", "since"),
    ("/events?after=1%00", "after"),
    ("/orders?userId=%00", "userId"),
    ("/orders?userId=user-1%00", "userId"),
    ("/orders?status=%00", "status"),
    ("/orders?offset=%00", "offset"),
    ("/inventory?limit=%00", "limit"),
    ("/events?%00=1", "\\x00"),  # the parameter's name itself
]


@pytest.mark.parametrize(("path", "name"), API_PARAMS)
def test_a_nul_in_an_api_parameter_is_a_400_naming_it(anonymous: Client, path: str, name: str):
    assert_json_error(anonymous.get(path), 400, f"{name}: must not contain NUL")


API_IDS = ["/orders/%00", "/orders/{order_id}%00", "/dashboard/api/flows/%00/spans"]


@pytest.mark.parametrize("path", API_IDS)
def test_a_nul_in_an_api_path_is_a_json_404(superuser: Client, order_id: str, path: str):
    assert_json_error(superuser.get(path.format(order_id=order_id)), 404, "Not found")


ADMIN_GETS = [
    "/admin/orders/order/?q=%00",
    "/admin/orders/order/?q=ORD%00",
    "/admin/orders/order/?status=%00",
    "/admin/orders/order/?status__exact=%00",
    "/admin/inventory/product/?q=%00",
    "/admin/inventory/reservation/?product__product_id__exact=%00",
    "/admin/eventhub/event/?q=%00",
    "/admin/eventhub/event/?event_type__exact=%00",
    "/admin/eventhub/delivery/?q=%00",
    "/admin/eventhub/deadletter/?subscriber__exact=%00",
    "/admin/eventhub/deadletter/?error_type=%00",
    "/admin/eventhub/deadletter/groups/?subscriber=%00",
    "/admin/autocomplete/?term=%00&app_label=orders&model_name=order&field_name=order_id",
    "/admin/login/?next=%00",
    "/dashboard/?correlationId=%00",
    "/?q=%00",
]


@pytest.mark.parametrize("path", ADMIN_GETS)
def test_a_nul_in_a_page_parameter_is_a_plain_400_naming_it(superuser: Client, path: str):
    name = path.split("?")[1].split("=")[0]
    assert_plain_error(superuser.get(path), 400, f"{name}: must not contain NUL")


ADMIN_OBJECTS = [
    "/admin/orders/order/%00/change/",
    "/admin/orders/order/{order_id}%00/change/",
    "/admin/orders/order/{order_id}%00/history/",
    "/admin/orders/order/{order_id}%00/delete/",
    "/admin/inventory/product/PROD-001%00/change/",
    "/admin/eventhub/faultrule/%00/change/",
    "/admin/r/1/%00/",
]


@pytest.mark.parametrize("path", ADMIN_OBJECTS)
def test_a_nul_in_an_admin_object_id_is_a_404(superuser: Client, order_id: str, path: str):
    assert_plain_error(superuser.get(path.format(order_id=order_id)), 404, "Not found")


def test_a_nul_in_an_admin_form_post_is_a_400_and_changes_nothing(superuser: Client, order_id: str):
    action = superuser.post(
        "/admin/orders/order/",
        {"action": "delete_selected", "_selected_action": [order_id, f"{order_id}\x00"]},
    )
    assert_plain_error(action, 400, "_selected_action: must not contain NUL")
    group = superuser.post(
        "/admin/eventhub/deadletter/groups/", {"subscriber": "\x00", "error_type": ""}
    )
    assert_plain_error(group, 400, "subscriber: must not contain NUL")
    assert Order.objects.filter(pk=order_id).exists()
    assert not RetryBatch.objects.exists()


def test_a_nul_inside_the_retry_matching_filters_starts_nothing(superuser: Client):
    response = superuser.post(
        "/admin/eventhub/deadletter/retry-matching/", {"query": "subscriber=%00"}
    )
    assert response.status_code == 302
    assert response["Location"] == "/admin/eventhub/deadletter/"
    assert not RetryBatch.objects.exists()
    assert not Delivery.objects.filter(retried_at__isnull=False).exists()


def test_a_nul_in_a_cookie_is_a_400_before_the_session_is_looked_up(anonymous: Client):
    anonymous.cookies[settings.SESSION_COOKIE_NAME] = "abcdefgh\x00ijklmnop"
    assert_plain_error(anonymous.get("/admin/"), 400, "cookie sessionid: must not contain NUL")
    assert_plain_error(anonymous.get("/"), 400, "cookie sessionid")


def test_the_cookie_form_a_browser_could_send_quoted_and_octal_escaped_is_refused_too():
    """Django unquotes ``"\\000"`` in a cookie to a NUL: that is how one arrives over HTTP."""
    client = Client(raise_request_exception=False, HTTP_COOKIE='sessionid="abcdefgh\\000ijk"')
    assert_plain_error(client.get("/admin/"), 400, "cookie sessionid")


WITHOUT_GUARD = [m for m in settings.MIDDLEWARE if not m.endswith("NulGuardMiddleware")]


@override_settings(MIDDLEWARE=WITHOUT_GUARD)
def test_the_api_views_refuse_control_characters_themselves(anonymous: Client, order_id: str):
    """Beneath the guard, each API view validates what it filters on: the same answers
    (worded for control characters in general) for a NUL and for any other control."""
    for control in ("%00", "%01", "%0A"):
        assert_json_error(anonymous.get(f"/events?eventType=a{control}"), 400, "eventType")
        assert_json_error(anonymous.get(f"/events?correlationId=a{control}"), 400, "correlationId")
        assert_json_error(anonymous.get(f"/orders?userId=u{control}"), 400, "userId")
        assert_json_error(anonymous.get(f"/orders/{order_id}{control}"), 404, "Order not found")


@override_settings(MIDDLEWARE=WITHOUT_GUARD)
def test_the_flow_spans_view_refuses_what_is_not_a_correlation_id(superuser: Client):
    assert_json_error(superuser.get("/dashboard/api/flows/%00/spans"), 404, "flow not found")
    assert_json_error(superuser.get("/dashboard/api/flows/a%20b/spans"), 404, "flow not found")


def test_long_filters_are_refused_naming_them(anonymous: Client):
    assert_json_error(anonymous.get("/orders", {"userId": "u" * 65}), 400, "userId: must be")
    assert_json_error(anonymous.get("/events", {"eventType": "e" * 101}), 400, "eventType: must be")
    assert_json_error(anonymous.get(f"/orders/{'O' * 65}"), 404, "Order not found")


def test_the_guard_lets_ordinary_requests_through(superuser: Client, order_id: str):
    assert superuser.get("/orders", {"userId": "user-1"}).json()["pagination"]["total"] == 1
    assert superuser.get(f"/orders/{order_id}").status_code == 200
    assert superuser.get("/admin/orders/order/", {"q": order_id}).status_code == 200
    assert superuser.get(f"/admin/orders/order/{order_id}/change/").status_code == 200
    assert superuser.get("/admin/orders/order/", {"status": "pending"}).status_code == 200


def test_a_nul_in_the_dashboards_discard_reason_is_a_400_and_the_letter_stays_dead(
    superuser: Client, order_id: str
):
    delivery = Delivery.objects.filter(event__aggregate_id=order_id).first()
    assert delivery is not None
    Delivery.objects.filter(pk=delivery.pk).update(status=Delivery.Status.DEAD)
    response = superuser.post(
        f"/dashboard/api/dead-letters/{delivery.pk}/discard",
        json.dumps({"reason": "spam\u0000"}),
        content_type="application/json",
    )
    assert_json_error(response, 400, "reason: must not contain NUL")
    delivery.refresh_from_db()
    assert (delivery.status, delivery.discard_reason) == (Delivery.Status.DEAD, "")
