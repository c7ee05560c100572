"""The dashboard's "Replay" of a flow: one POST endpoint (staff, CSRF, its own permission).

``POST /dashboard/api/flows/<correlation id>/replay`` with ``{"reason": "...",
"subscribers": [...], "rate": N, "dryRun": false}``: 403 without ``eventhub.replay_events``,
400 naming the field (a subscriber that is not replayable, a missing reason, a bad rate),
nothing written then; 202 with the batch, whose progress is pushed live with the stream's
retry batches. ``dryRun`` answers 200 with what would be sent and writes nothing.
"""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest, JsonResponse

from ..bus.reasons import reason_checked
from ..bus.replays import ReplayRefused, flow_plan, replay_start
from ..http import BadRequest, failure, json_body, json_methods, success
from ..middleware import VALID as CORRELATION_ID
from .api import MAX_REASON_CHARS, staff_only

PERMISSION = "eventhub.replay_events"


def _request(body: Any) -> tuple[str, list[str], int | None, bool]:
    if not isinstance(body, dict):
        raise BadRequest("body: must be a JSON object")
    reason = body.get("reason", "")
    if not isinstance(reason, str):
        raise BadRequest("reason: must be a string")
    if len(reason.strip()) > MAX_REASON_CHARS:
        raise BadRequest(f"reason: at most {MAX_REASON_CHARS} characters")
    reason_checked(reason, BadRequest)
    chosen = body.get("subscribers", [])
    if not isinstance(chosen, list) or not all(isinstance(n, str) for n in chosen):
        raise BadRequest("subscribers: must be a list of subscriber names")
    rate = body.get("rate")
    if rate is not None and (isinstance(rate, bool) or not isinstance(rate, int)):
        raise BadRequest("rate: must be a whole number of deliveries per second")
    dry_run = body.get("dryRun", False)
    if not isinstance(dry_run, bool):
        raise BadRequest("dryRun: must be true or false")
    return reason, chosen, rate, dry_run


@json_methods("POST")
@staff_only
def flow_replay(request: HttpRequest, correlation_id: str) -> JsonResponse:
    if not request.user.has_perm(PERMISSION):
        return failure(f"permission {PERMISSION} required", 403)
    try:
        if not CORRELATION_ID.fullmatch(correlation_id):
            raise BadRequest("correlationId: not a correlation ID")
        reason, chosen, rate, dry_run = _request(json_body(request))
        items = flow_plan([correlation_id], chosen=chosen)
        preview = [
            {
                "position": i.event_pk,
                "eventId": i.event_id,
                "eventType": i.event_type,
                "subscriber": i.subscriber,
                "generation": i.generation,
            }
            for i in items
        ]
        if dry_run:
            return success({"dryRun": True, "deliveries": preview})
        batch = replay_start(
            items,
            user_id=request.user.pk,
            reason=reason,
            what=f"flow {correlation_id} from the dashboard",
            rate=rate,
        )
    except BadRequest as exc:
        return failure(exc.message, exc.status)
    except ReplayRefused as exc:
        return failure(_wire(str(exc)), 400)
    return success(
        {"batch": batch.pk, "total": batch.total, "ratePerSecond": batch.rate_per_second},
        status=202,
    )


def _wire(message: str) -> str:
    """The refusal with its field as the request names it (``correlation_id`` ->
    ``correlationId``)."""
    field, sep, rest = message.partition(": ")
    names = {"correlation_id": "correlationId", "subscriber": "subscribers"}
    return f"{names.get(field, field)}{sep}{rest}"
