"""JSON endpoints behind the dashboard (staff only)."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from django.conf import settings
from django.http import HttpRequest, JsonResponse

from ..http import failure, success
from ..models import Event
from ..span_store import spans_of


def staff_only(view: Callable[..., JsonResponse]) -> Callable[..., JsonResponse]:
    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> JsonResponse:
        user = request.user
        if not user.is_authenticated:
            return failure("authentication required", 401)
        if not user.is_staff:
            return failure("staff only", 403)
        return view(request, *args, **kwargs)

    return wrapper


@staff_only
def flow_spans(request: HttpRequest, correlation_id: str) -> JsonResponse:
    """The spans of every trace the flow's events belong to, for a waterfall."""
    trace_ids = Event.objects.filter(correlation_id=correlation_id).values_list(
        "trace_id", flat=True
    )
    return success(spans_of(trace_ids, settings.REDIS_URL))
