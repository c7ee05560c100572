"""What every HTML page of the project shares: a strict Content-Security-Policy, a favicon.

Scripts come only from our static files (no inline script, no eval) and connections only go
back to our own origin, so even a rendering bug could not run a payload's markup.

The shop and the dashboard set it in their views (``with_csp``); every other HTML response
(the admin, which shows event data, and error pages) gets it from the middleware. Django's
admin needs nothing more: its scripts and styles are static files ('self'), its templates
hold no inline script or style attribute (tests/e2e/test_admin_csp.py watches the console).
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


class ContentSecurityPolicyMiddleware:
    """The CSP on every HTML response that does not set its own."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if response.get("Content-Type", "").startswith("text/html"):
            response.setdefault("Content-Security-Policy", CSP)
        return response
