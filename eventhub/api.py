"""``GET /events`` of the seed, with filters and a position cursor; ``GET /healthz``."""

from __future__ import annotations

from django.http import HttpRequest, JsonResponse

from .bus.envelope import to_envelope
from .http import BadRequest, api_view, int_param, limit_param, page_links, success, text_param
from .middleware import VALID as CORRELATION_ID
from .models import Event
from .selectors import event_list

EVENT_TYPE_MAX_LENGTH = Event._meta.get_field("event_type").max_length


@api_view("GET")
def events(request: HttpRequest) -> JsonResponse:
    limit = limit_param(request, default=100, maximum=1000)
    correlation_id = request.GET.get("correlationId") or None
    if correlation_id is not None and not CORRELATION_ID.fullmatch(correlation_id):
        raise BadRequest(
            "correlationId: must be 1 to 128 characters of letters, digits and . _ : -"
        )
    rows = list(
        event_list(
            event_type=text_param(request, "eventType", max_length=EVENT_TYPE_MAX_LENGTH),
            since=int_param(request, "since"),
            correlation_id=correlation_id,
            after=int_param(request, "after"),
        )[: limit + 1]
    )
    more = len(rows) > limit
    rows = rows[:limit]
    cursor = rows[-1].pk if rows else int_param(request, "after")
    pagination = {
        "limit": limit,
        "after": cursor,
        "next": page_links(request, after=cursor) if more else None,
    }
    return success([to_envelope(e) for e in rows], pagination=pagination)


@api_view("GET")
def healthz(request: HttpRequest) -> JsonResponse:
    """Liveness: the web process answers. Touches neither the database nor Redis, so a load
    balancer can probe it cheaply (and the benchmark uses it as the bare-view baseline)."""
    return JsonResponse({"ok": True})
