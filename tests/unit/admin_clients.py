"""Logged-in admin clients and the catalog, shared by the admin's HTTP-level unit tests."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Permission, User
from django.test import Client

from inventory.services import catalog_seed


@pytest.fixture(autouse=True)
def catalog() -> None:
    catalog_seed()


@pytest.fixture
def root() -> Client:
    client = Client()
    client.force_login(User.objects.create_superuser("root", password="pw"))
    return client


def only(permission: str) -> Client:
    """A staff client holding ``permission`` and nothing else."""
    user = User.objects.create_user(f"holds-{permission}", password="pw", is_staff=True)
    user.user_permissions.set(Permission.objects.filter(codename=permission))
    client = Client()
    client.force_login(user)
    return client
