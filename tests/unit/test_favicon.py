"""The favicon: /favicon.ico answers (no 404 logged per page load) and the pages link it."""

from __future__ import annotations

import pytest
from django.contrib.staticfiles import finders
from django.test import Client

ICON_URL = "/static/eventhub/favicon.svg"


def test_favicon_ico_redirects_to_the_static_svg_icon() -> None:
    response = Client().get("/favicon.ico")
    assert response.status_code == 301
    assert response["Location"] == ICON_URL
    path = finders.find("eventhub/favicon.svg")
    assert path, "the icon is not among the static files"
    with open(path) as icon:
        assert icon.read().startswith("<svg xmlns=")


@pytest.mark.django_db
def test_the_shop_page_links_the_icon() -> None:
    page = Client().get("/").content.decode()
    assert f'<link rel="icon" type="image/svg+xml" href="{ICON_URL}">' in page
