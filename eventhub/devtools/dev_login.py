"""The development superuser that ``runstack`` prints the login of.

The password is ``DJANGO_DEV_PASSWORD`` or one generated once and kept in ``var/dev_login``
(mode 600), and it is set again on every start, so that the printed login always works.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from django.conf import settings
from django.contrib.auth import get_user_model

DEV_USERNAME = "admin"


def dev_password() -> str:
    """DJANGO_DEV_PASSWORD, else a password generated once and kept in var/dev_login."""
    if password := os.environ.get("DJANGO_DEV_PASSWORD"):
        return password
    path = Path(settings.VAR_DIR) / "dev_login"
    if not path.exists():
        path.write_text(secrets.token_urlsafe(12) + "\n")
        path.chmod(0o600)
    return path.read_text().strip()


def ensure_dev_superuser(password: str) -> None:
    """The development superuser exists, is active, and has ``password``."""
    user, _ = get_user_model().objects.get_or_create(
        username=DEV_USERNAME, defaults={"email": "admin@eventhub.example"}
    )
    if not (user.is_active and user.is_staff and user.is_superuser) or not user.check_password(
        password
    ):
        user.is_active = user.is_staff = user.is_superuser = True
        user.set_password(password)
        user.save()
