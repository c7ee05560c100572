"""The admin's gaps found by the hardening pass: the dead-letter groups page needs the view
permission, retry-matching with filters the change list cannot apply starts nothing (no 500),
and every admin page carries the Content-Security-Policy of the shop and the dashboard."""

from __future__ import annotations

import pytest
from django.contrib.admin.models import LogEntry
from django.contrib.auth.models import User
from django.contrib.messages import get_messages
from django.test import Client

from eventhub.models import DeadLetter, Delivery, RetryBatch
from eventhub.pages import CSP
from tests.integration.test_dead_letter_admin import (
    CHANGELIST,
    FAILED,
    OPERATOR_PERMS,
    logged_in,
    make_dead_letters,
    staff,
)

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

GROUPS = f"{CHANGELIST}groups/"
RETRY_MATCHING = f"{CHANGELIST}retry-matching/"


def test_the_groups_page_needs_the_view_permission_like_the_list():
    make_dead_letters(2)
    nobody = logged_in(staff("no-perms"))
    assert nobody.get(CHANGELIST).status_code == 403
    refused = nobody.get(GROUPS)
    assert refused.status_code == 403
    assert FAILED not in refused.content.decode()
    posted = nobody.post(GROUPS, {"subscriber": FAILED, "error_type": "InjectedFault"})
    assert posted.status_code == 403

    viewer = logged_in(staff("viewer", "view_deadletter"))
    page = viewer.get(GROUPS)
    assert page.status_code == 200
    assert FAILED in page.content.decode()
    assert not RetryBatch.objects.exists()


def test_retry_matching_needs_the_view_permission_too():
    make_dead_letters(1)
    blind = logged_in(staff("blind-retrier", "retry_deadletter"))
    assert blind.post(RETRY_MATCHING, {"query": ""}).status_code == 403
    assert not RetryBatch.objects.exists()


@pytest.mark.parametrize(
    "query",
    [
        "dead_at__gte=notadate",
        "attempts__gt=x",
        "id__in=1,x",
        "subscriber=ok&dead_at__lt=2026-13-45",
        "subscriber__regex=(",
    ],
)
def test_retry_matching_with_filters_that_do_not_apply_starts_nothing(query: str):
    dead = make_dead_letters(2)
    operator = logged_in(staff("op", *OPERATOR_PERMS))
    response = operator.post(RETRY_MATCHING, {"query": query})
    assert response.status_code == 302
    assert response["Location"] == CHANGELIST
    [message] = [str(m) for m in get_messages(response.wsgi_request)]
    assert message.startswith("Nothing retried: the filters")
    assert not RetryBatch.objects.exists()
    assert not LogEntry.objects.exists()
    assert set(DeadLetter.objects.values_list("pk", flat=True)) == set(dead)
    assert not Delivery.objects.filter(pk__in=dead, retried_at__isnull=False).exists()


def test_retry_matching_with_valid_filters_still_retries_what_matches():
    dead = make_dead_letters(2)
    operator = logged_in(staff("op", *OPERATOR_PERMS))
    response = operator.post(RETRY_MATCHING, {"query": f"subscriber={FAILED}"})
    assert response.status_code == 302
    batch = RetryBatch.objects.get()
    assert sorted(batch.delivery_ids) == sorted(dead)


def test_every_admin_page_sends_the_content_security_policy():
    [dead] = make_dead_letters(1)
    superuser = Client()
    superuser.force_login(User.objects.create_superuser("root", password="pw"))
    order_id = Delivery.objects.get(pk=dead).event.aggregate_id
    pages = [
        "/admin/",
        "/admin/orders/order/",
        f"/admin/orders/order/{order_id}/change/",
        CHANGELIST,
        f"{CHANGELIST}{dead}/change/",
        GROUPS,
        "/admin/eventhub/retrybatch/",
        "/admin/auth/user/add/",
    ]
    for path in pages:
        response = superuser.get(path)
        assert response.status_code == 200, path
        assert response["Content-Security-Policy"] == CSP, path
    login = Client().get("/admin/login/")
    assert login["Content-Security-Policy"] == CSP
    assert "script-src 'self';" in CSP and "style-src 'self';" in CSP
