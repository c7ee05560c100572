"""Refuses NUL characters (U+0000) in a request before any of them can reach a query.

PostgreSQL's text types cannot hold NUL: a filter on one raises ``DataError`` (a 500), where
SQLite simply finds nothing. No name, id or filter of ours can contain one, so the guard
answers before the view runs, and the same way on both databases:

- a NUL in the path: 404 (no resource has such a name);
- in a query parameter (its name or value) or a form field of a page's POST: 400 naming it;
- in a cookie (the session cookie is looked up in the database): 400 naming it; a websocket
  handshake with one is refused (``WebsocketNulGuard``, daphne answers 403).

Views marked ``json_api`` (the seed's API, the dashboard's endpoints) get the API's JSON error
shape, every other page plain text. API views validate their parameters themselves as well
(``eventhub.http.text_param``); this is the net under everything else, the admin included
(its search box, list filters, change pages with a string primary key, action checkboxes).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from django.http import HttpRequest, HttpResponse
from django.http.cookie import parse_cookie

from .http import failure

NUL = "\x00"
FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")


def _first_with_nul(pairs: Iterable[tuple[str, Any]]) -> str | None:
    """The name of the first pair whose name or value holds a NUL (printable in a message)."""
    for name, value in pairs:
        values = value if isinstance(value, list) else [value]
        if NUL in name or any(isinstance(v, str) and NUL in v for v in values):
            return name.replace(NUL, "\\x00")
    return None


def _refuse(message: str, status: int, *, as_json: bool) -> HttpResponse:
    if as_json:
        return failure(message, status)
    return HttpResponse(message, status=status, content_type="text/plain; charset=utf-8")


class NulGuardMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        cookie = _first_with_nul(request.COOKIES.items())
        if cookie is not None:
            return _refuse(f"cookie {cookie}: must not contain NUL characters", 400, as_json=False)
        return self.get_response(request)

    def process_view(
        self,
        request: HttpRequest,
        view_func: Callable[..., HttpResponse],
        view_args: tuple[Any, ...],
        view_kwargs: dict[str, Any],
    ) -> HttpResponse | None:
        as_json = bool(getattr(view_func, "json_api", False))
        if NUL in request.path_info:
            return _refuse("Not found: the path contains a NUL character", 404, as_json=as_json)
        name = _first_with_nul(request.GET.lists())
        if name is None and not as_json and request.content_type in FORM_TYPES:
            # The API reads JSON bodies only; a form body is the admin's (a search, an action's
            # checkboxes, a group to retry) and Django parses it on first use anyway.
            name = _first_with_nul(request.POST.lists())
        if name is not None:
            return _refuse(f"{name}: must not contain NUL characters", 400, as_json=as_json)
        return None


class WebsocketNulGuard:
    """ASGI, for websockets: a handshake whose cookies hold a NUL is refused before Channels'
    AuthMiddlewareStack looks the session up (a 500 on PostgreSQL). Cookies are read as
    Channels' CookieMiddleware reads them."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "websocket":
            headers = [v.decode("latin1") for k, v in scope.get("headers", []) if k == b"cookie"]
            if _first_with_nul(parse_cookie("; ".join(headers)).items()) is not None:
                await receive()  # websocket.connect
                await send({"type": "websocket.close"})
                return
        await self.app(scope, receive, send)
