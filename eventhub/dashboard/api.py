"""JSON endpoints behind the dashboard (staff only; writes need the CSRF token)."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from django.conf import settings
from django.http import HttpRequest, JsonResponse
from django.views.decorators.http import require_http_methods

from ..http import BadRequest, failure, json_body, success
from ..models import Event
from ..span_store import spans_of
from .fault_switches import FaultSwitchError, fault_rule_json, fault_rule_set, fault_rules


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


@require_http_methods(["GET", "POST"])
@staff_only
def faults(request: HttpRequest) -> JsonResponse:
    """GET: the fault rules; POST ``{subscriber, enabled, mode, remaining, percent,
    latencyMs}``: switch one (needs the ``eventhub.change_faultrule`` permission)."""
    if request.method == "GET":
        return success(fault_rules())
    if not request.user.has_perm("eventhub.change_faultrule"):
        return failure("permission eventhub.change_faultrule required", 403)
    try:
        body = json_body(request)
        if not isinstance(body, dict) or not isinstance(body.get("subscriber"), str):
            raise BadRequest("subscriber: is required")
        rule = fault_rule_set(
            subscriber=body["subscriber"],
            enabled=body.get("enabled") is True,
            mode=str(body.get("mode", "none")),
            remaining=body.get("remaining", 0),
            percent=body.get("percent", 0),
            latency_ms=body.get("latencyMs", 0),
        )
    except BadRequest as exc:
        return failure(exc.message, exc.status)
    except FaultSwitchError as exc:
        return failure(str(exc), 400)
    return success(fault_rule_json(rule))
