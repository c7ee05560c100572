"""GET /healthz: the liveness probe (and the benchmark's bare-view baseline)."""

from __future__ import annotations

from django.test import Client


def test_healthz_answers_ok_without_touching_the_database() -> None:
    # No django_db mark: pytest-django fails the test if the view queries the database.
    response = Client().get("/healthz")
    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    assert response.json() == {"ok": True}


def test_healthz_is_get_only() -> None:
    response = Client().post("/healthz")
    assert response.status_code == 405
    assert response["Allow"] == "GET"
