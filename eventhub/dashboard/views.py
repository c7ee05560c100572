"""The dashboard page: staff only (others are sent to the admin login)."""

from __future__ import annotations

from django.contrib.admin.views.decorators import staff_member_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import NoReverseMatch, reverse
from django.views.decorators.csrf import ensure_csrf_cookie
from django.views.decorators.http import require_GET

from ..bus import subscribers
from ..faults import fault_switches
from ..models import Delivery, FaultRule
from ..pages import with_csp


def _admin_dead_letters_url() -> str:
    """The admin's dead letters (their list and detail pages), if it is registered."""
    try:
        return reverse("admin:eventhub_deadletter_changelist")
    except NoReverseMatch:
        return ""


@require_GET
@staff_member_required
@ensure_csrf_cookie
@with_csp
def dashboard(request: HttpRequest) -> HttpResponse:
    return render(
        request,
        "dashboard/index.html",
        {
            "subscribers": [s.name for s in subscribers.all_subscribers()],
            "switches": list(fault_switches()),
            "statuses": Delivery.Status.values,
            "fault_modes": FaultRule.Mode.choices,
            "admin_dead_letters": _admin_dead_letters_url(),
            "pause_rights": request.user.has_perm("eventhub.pause_subscriber"),
            # What the page may offer; each POST is checked again on the server.
            "dead_letter_rights": {
                "retry": request.user.has_perm("eventhub.retry_deadletter"),
                "discard": request.user.has_perm("eventhub.discard_deadletter"),
                "edit": request.user.has_perm("eventhub.edit_deadletter"),
                "adminUrl": _admin_dead_letters_url(),
            },
            "replay_rights": {"replay": request.user.has_perm("eventhub.replay_events")},
        },
    )
