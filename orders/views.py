"""The shop page (``/``) and its order form's endpoint, which remembers orders per session.

The form posts JSON to ``/shop/orders`` rather than the seed's anonymous ``POST /orders``:
the same parsing and service, but session-bound (and so CSRF-protected), so that a session
only ever learns, and streams the status of, the orders it placed itself.
"""

from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.views.decorators.csrf import ensure_csrf_cookie
from django.views.decorators.http import require_GET, require_POST

from eventhub.http import BadRequest, failure, json_body, success
from eventhub.pages import with_csp

from .api import order_json, parse_order
from .services import OrderError, order_place
from .shop import SESSION_KEY, session_order_ids, session_order_remember, shop_snapshot


@require_GET
@ensure_csrf_cookie
@with_csp
def shop(request: HttpRequest) -> HttpResponse:
    if SESSION_KEY not in request.session:
        # A session from the first visit on, so the page's websocket carries its cookie.
        request.session[SESSION_KEY] = []
    snapshot = shop_snapshot(order_ids=session_order_ids(request.session))
    return render(
        request,
        "shop/index.html",
        {
            "snapshot": snapshot,
            "staff": request.user.is_staff,
            "currency": settings.EVENTHUB["CURRENCY"],
        },
    )


@require_POST
def shop_order_place(request: HttpRequest) -> JsonResponse:
    try:
        user_id, items = parse_order(json_body(request))
        try:
            order = order_place(user_id=user_id, items=items)
        except OrderError as exc:
            raise BadRequest(str(exc)) from None
    except BadRequest as exc:
        return failure(exc.message, exc.status)
    session_order_remember(request.session, order.order_id)
    return success(order_json(order), status=201)  # the rows as written: no read-back
