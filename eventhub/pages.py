"""What every HTML page of the project shares: a strict Content-Security-Policy, a favicon.

Scripts come only from our static files (no inline script, no eval) and connections only go
back to our own origin, so even a rendering bug could not run a payload's markup.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from django.http import HttpRequest, HttpResponse, HttpResponsePermanentRedirect
from django.templatetags.static import static

FAVICON = "eventhub/favicon.svg"
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; "
    "form-action 'self'"
)


def with_csp(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        response = view(request, *args, **kwargs)
        response.setdefault("Content-Security-Policy", CSP)
        return response

    return wrapper


def favicon(request: HttpRequest) -> HttpResponse:
    """``/favicon.ico``: the static SVG icon. Our pages link it; the admin's pages do not, so
    browsers ask for /favicon.ico there (a 404 logged on every page load until this)."""
    return HttpResponsePermanentRedirect(static(FAVICON))
