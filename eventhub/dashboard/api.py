"""JSON endpoints behind the dashboard (staff only; writes need the CSRF token).

Every answer is JSON, refusals included: a wrong method is a 405 with ``Allow``
(``json_methods``), a missing or wrong CSRF token a 403 (``http.csrf_failure``)."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from django.conf import settings
from django.http import HttpRequest, JsonResponse

from ..bus.pauses import PauseError, held_count, pause_json, pauses_summary
from ..bus.pauses import subscriber_pause as pause_subscriber
from ..bus.pauses import subscriber_resume as resume_subscriber
from ..bus.reasons import reason_checked
from ..dead_letter_actions import discard_requested, retry_requested
from ..http import BadRequest, failure, json_body, json_methods, success
from ..middleware import VALID as CORRELATION_ID
from ..models import Delivery, Event
from ..span_store import spans_of
from .fault_switches import FaultSwitchError, fault_rule_json, fault_rule_set, fault_rules
from .waterfall import layout


def staff_only(view: Callable[..., JsonResponse]) -> Callable[..., JsonResponse]:
    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> JsonResponse:
        user = request.user
        if not user.is_authenticated:
            return failure("authentication required", 401)
        if not user.is_staff:
            return failure("staff only", 403)
        return view(request, *args, **kwargs)

    wrapper.json_api = True  # type: ignore[attr-defined] - errors in JSON (nul_guard)
    return wrapper


@json_methods("GET")
@staff_only
def flow_spans(request: HttpRequest, correlation_id: str) -> JsonResponse:
    """The waterfall of the flow: the spans of every trace its events belong to and of the
    traces linked to them (retries), laid out by ``waterfall.layout``."""
    if not CORRELATION_ID.fullmatch(correlation_id):
        return failure("flow not found: not a correlation id", 404)
    trace_ids = Event.objects.filter(correlation_id=correlation_id).values_list(
        "trace_id", flat=True
    )
    return success(layout(spans_of(trace_ids, settings.REDIS_URL)))


@json_methods("GET", "POST")
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


MAX_REASON_CHARS = 2000


def _dead_letter(delivery_id: int) -> Delivery:
    """The dead delivery ``delivery_id``: BadRequest 404 if unknown, 400 if it is not dead."""
    delivery = Delivery.objects.filter(pk=delivery_id).only("pk", "status").first()
    if delivery is None:
        raise BadRequest(f"id: no delivery {delivery_id}", 404)
    if delivery.status != Delivery.Status.DEAD:
        raise BadRequest(
            f"id: delivery {delivery_id} is {delivery.status}, not dead; "
            "only dead letters can be retried or discarded"
        )
    return delivery


@json_methods("POST")
@staff_only
def dead_letter_retry(request: HttpRequest, delivery_id: int) -> JsonResponse:
    """POST: retry one dead letter, as the admin does (a retry batch the relay carries out);
    needs ``eventhub.retry_deadletter``. 202 with the batch: the outcome arrives live."""
    if not request.user.has_perm("eventhub.retry_deadletter"):
        return failure("permission eventhub.retry_deadletter required", 403)
    try:
        delivery = _dead_letter(delivery_id)
    except BadRequest as exc:
        return failure(exc.message, exc.status)
    batch = retry_requested(user_id=request.user.pk, delivery_ids=[delivery.pk], why="dashboard")
    return success({"id": delivery.pk, "batch": batch.pk}, status=202)


@json_methods("POST")
@staff_only
def dead_letter_discard(request: HttpRequest, delivery_id: int) -> JsonResponse:
    """POST ``{reason}``: discard one dead letter with that reason (required); needs
    ``eventhub.discard_deadletter``."""
    if not request.user.has_perm("eventhub.discard_deadletter"):
        return failure("permission eventhub.discard_deadletter required", 403)
    try:
        delivery = _dead_letter(delivery_id)
        body = json_body(request)
        reason = body.get("reason") if isinstance(body, dict) else None
        if not isinstance(reason, str) or not reason.strip():
            raise BadRequest("reason: a reason is required to discard a dead letter")
        if len(reason.strip()) > MAX_REASON_CHARS:
            raise BadRequest(f"reason: at most {MAX_REASON_CHARS} characters")
        reason_checked(reason, BadRequest)
    except BadRequest as exc:
        return failure(exc.message, exc.status)
    discarded = discard_requested(
        user_id=request.user.pk, delivery_ids=[delivery.pk], reason=reason
    )
    if not discarded:  # retried or discarded by someone else since the check above
        return failure(f"id: delivery {delivery.pk} is no longer dead", 400)
    return success({"id": delivery.pk, "status": Delivery.Status.DISCARDED})


@json_methods("GET", "POST")
@staff_only
def pauses(request: HttpRequest) -> JsonResponse:
    """GET: the paused and resuming subscribers with their held counts. POST ``{subscriber,
    paused, reason}``: pause (``paused`` true, ``reason`` optional) or resume (false) one;
    needs ``eventhub.pause_subscriber``; audited in the admin log (who, when, reason)."""
    if request.method == "GET":
        return success(pauses_summary())
    if not request.user.has_perm("eventhub.pause_subscriber"):
        return failure("permission eventhub.pause_subscriber required", 403)
    try:
        body = json_body(request)
        if not isinstance(body, dict):
            raise BadRequest("body: must be a JSON object")
        name = body.get("subscriber")
        if not isinstance(name, str) or not name:
            raise BadRequest("subscriber: is required")
        paused = body.get("paused")
        if not isinstance(paused, bool):
            raise BadRequest("paused: must be true (pause) or false (resume)")
        if paused:
            outcome = pause_subscriber(
                name=name, user_id=request.user.pk, reason=body.get("reason")
            )
        else:
            outcome = resume_subscriber(name=name, user_id=request.user.pk)
    except BadRequest as exc:
        return failure(exc.message, exc.status)
    except PauseError as exc:
        return failure(str(exc), 400)
    return success({**pause_json(outcome.pause, held=held_count(name)), "changed": outcome.changed})
