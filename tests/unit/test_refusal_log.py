"""A refused admin request (403) is one line in the log (who, what, where), not a
traceback; a server error keeps its traceback."""

from __future__ import annotations

import logging

import pytest
from django.contrib.auth.models import User
from django.test import Client

from tests.unit.admin_clients import only

pytestmark = pytest.mark.django_db


def test_a_refused_admin_request_is_logged_in_one_line_without_a_traceback(caplog):
    client = only("view_event")
    with caplog.at_level(logging.WARNING, logger="django.request"):
        response = client.post("/admin/eventhub/retrybatch/redrive/", {"apply": "1"})
    assert response.status_code == 403
    [record] = [r for r in caplog.records if r.name == "django.request"]
    assert record.levelno == logging.WARNING
    assert record.exc_info is None and record.exc_text is None
    line = record.getMessage()
    assert "\n" not in line
    assert "eventhub.redrive_deliveries" in line  # what
    assert "POST /admin/eventhub/retrybatch/redrive/" in line  # where
    assert "holds-view_event" in line  # who
    assert "Traceback" not in caplog.text


def test_a_server_error_keeps_its_traceback(caplog, monkeypatch):
    """The filter only touches refusals: a 500 is logged with its traceback as before."""
    client = Client(raise_request_exception=False)
    client.force_login(User.objects.create_superuser("root", password="pw"))

    class Broken:
        class objects:  # noqa: N801 - stands in for a model's manager
            @staticmethod
            def filter(**kwargs):  # noqa: ANN003, ANN205
                raise RuntimeError("boom")

    monkeypatch.setattr("eventhub.admin.RetryBatch", Broken)
    with caplog.at_level(logging.ERROR, logger="django.request"):
        assert client.get("/admin/eventhub/retrybatch/1/progress.json").status_code == 500
    [record] = [r for r in caplog.records if r.name == "django.request"]
    assert record.exc_info is not None and record.exc_info[0] is RuntimeError
