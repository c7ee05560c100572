"""``GET /metrics``: the Prometheus scrape endpoint, for staff or the metrics bearer token.

Not public: the figures name every subscriber and queue. A Prometheus server sends
``Authorization: Bearer <EVENTHUB_METRICS_TOKEN>`` (its ``authorization`` scrape option); a
staff user's browser session works too. With no token configured, every bearer is refused.
"""

from __future__ import annotations

import hmac

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.views.decorators.http import require_GET

from ..http import failure
from . import meters, readings
from .exposition import CONTENT_TYPE, render


def _refusal(request: HttpRequest) -> HttpResponse | None:
    """Why this request may not read the metrics (a 401 or 403), or None if it may."""
    header = request.headers.get("Authorization", "")
    if header[:7].lower() == "bearer ":
        token = str(settings.EVENTHUB["METRICS_TOKEN"])
        if not token:
            return failure("Authorization: no EVENTHUB_METRICS_TOKEN is configured", 401)
        if hmac.compare_digest(header[7:].strip().encode(), token.encode()):
            return None
        return failure("Authorization: the bearer token is not the metrics token", 401)
    user = getattr(request, "user", None)
    if user is not None and user.is_authenticated:
        return None if user.is_staff else failure("Metrics are for staff users", 403)
    response = failure("Authorization: a staff session or the metrics bearer token", 401)
    response["WWW-Authenticate"] = 'Bearer realm="metrics"'
    return response


@require_GET
def scrape(request: HttpRequest) -> HttpResponse:
    if not meters.enabled():
        return failure("Metrics are switched off (EVENTHUB_METRICS=false)", 404)
    refused = _refusal(request)
    if refused is not None:
        return refused
    families = [*readings.read_all(), *meters.process_families()]
    return HttpResponse(render(families), content_type=CONTENT_TYPE)
