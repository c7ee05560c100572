"""Who may keep the dashboard's stream open: active staff whose session is still live.

The handshake's check alone would let a socket stream for daphne's 24 h websocket timeout
after its user lost access, so a connection checks again (``denial``):

- after reading each batch and before sending it, so nothing read after a revocation
  committed is sent (the read comes first: whatever it saw was committed before the check);
- every ``RECHECK_SECONDS`` while idle, since nothing else notices a revocation made by a
  ``QuerySet.update()``, raw SQL or another process without signals;
- at once when told to: a save or delete of the user sends ``access.recheck`` to
  ``user_group``; a logout sends ``access.revoked`` to its session's ``session_group``.
  Group sends are at-most-once, so these only make the close immediate; the periodic check
  holds on its own. A session deleted otherwise (the admin, ``clearsessions``, expiry) is
  left to the periodic check: a signal per deleted row would make Django's bulk session
  deletes load and signal every row.

A denial closes the socket with ``CLOSE_UNAUTHENTICATED`` (4401: the session is gone or
logged out, the user deleted, the password changed) or ``CLOSE_FORBIDDEN`` (4403: the user
is no longer staff, or inactive).
"""

from __future__ import annotations

import hashlib
import logging
import os
from importlib import import_module
from typing import Any

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.conf import settings
from django.contrib.auth import HASH_SESSION_KEY, SESSION_KEY, get_user_model
from django.contrib.sessions.backends.base import SessionBase
from django.db import transaction
from django.utils.crypto import constant_time_compare

from ..consumers import CLOSE_FORBIDDEN

log = logging.getLogger(__name__)

CLOSE_UNAUTHENTICATED = 4401
RECHECK_SECONDS = float(os.environ.get("EVENTHUB_DASHBOARD_ACCESS_RECHECK_SECONDS", "5.0"))
RECHECK_MESSAGE = "access.recheck"
REVOKED_MESSAGE = "access.revoked"


def session_store(session_key: str | None) -> SessionBase:
    return import_module(settings.SESSION_ENGINE).SessionStore(session_key=session_key)


def denial(*, session_key: str | None, user_id: Any) -> int | None:
    """None while ``session_key`` still logs ``user_id`` in as active staff, else a close code.

    The same test as ``django.contrib.auth.get_user`` (the session names the user and carries
    their current session hash, so a password change logs it out), read fresh from the session
    store, plus the dashboard's own rule: active staff.
    """
    if not session_key:
        return CLOSE_UNAUTHENTICATED
    session = session_store(session_key)
    if str(session.get(SESSION_KEY)) != str(user_id):  # {} once deleted, flushed or expired
        return CLOSE_UNAUTHENTICATED
    user = get_user_model()._default_manager.filter(pk=user_id).first()
    if user is None:
        return CLOSE_UNAUTHENTICATED
    session_hash = session.get(HASH_SESSION_KEY) or ""
    hashes = [user.get_session_auth_hash(), *user.get_session_auth_fallback_hash()]
    if not any(constant_time_compare(session_hash, h) for h in hashes):
        return CLOSE_UNAUTHENTICATED
    if not (user.is_active and user.is_staff):
        return CLOSE_FORBIDDEN
    return None


# --- push: re-check now ---------------------------------------------------------------------


def user_group(user_id: Any) -> str:
    return f"dashboard.user.{user_id}"


def session_group(session_key: str) -> str:
    """A group per session, named by a digest: session keys are secrets, group names are not."""
    return "dashboard.session." + hashlib.sha256(session_key.encode()).hexdigest()[:32]


def push(group: str, message: dict[str, Any]) -> None:
    """Best effort: the periodic check holds when this is lost."""
    layer = get_channel_layer()
    if layer is None:
        return
    try:
        async_to_sync(layer.group_send)(group, message)
    except Exception as exc:  # a revocation must not fail because Redis did
        log.warning("dashboard access message not pushed to %s: %s", group, exc)


def recheck_after_commit(group: str) -> None:
    """Ask the group's connections to re-check once the change is committed (so they read it)."""
    transaction.on_commit(lambda: push(group, {"type": RECHECK_MESSAGE}), robust=True)


def user_changed(sender: Any, instance: Any, **kwargs: Any) -> None:
    """post_save / post_delete of the user model."""
    if instance.pk is not None:
        recheck_after_commit(user_group(instance.pk))


def logged_out(sender: Any, request: Any, user: Any, **kwargs: Any) -> None:
    """user_logged_out, sent just before the session is flushed: that session's sockets close
    with 4401 without a re-check (which could still find the session), whatever the engine."""
    session_key = getattr(getattr(request, "session", None), "session_key", None)
    if session_key:
        push(session_group(session_key), {"type": REVOKED_MESSAGE, "code": CLOSE_UNAUTHENTICATED})
