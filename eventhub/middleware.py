"""Binds each request to a flow: ``X-Correlation-ID`` if given (and sane), else a new one."""

from __future__ import annotations

import re
from collections.abc import Callable

from django.http import HttpRequest, HttpResponse

from .bus import context
from .http import failure

HEADER = "X-Correlation-ID"
VALID = re.compile(r"^[A-Za-z0-9._:\-]{1,128}$")


class CorrelationIdMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        given = request.headers.get(HEADER)
        if given is not None and not VALID.fullmatch(given):
            return failure(
                f"{HEADER}: must be 1 to 128 characters of letters, digits and . _ : -", 400
            )
        correlation_id = given or context.new_correlation_id()
        request.correlation_id = correlation_id  # type: ignore[attr-defined]
        with context.bound(correlation_id=correlation_id):
            response = self.get_response(request)
        response[HEADER] = correlation_id
        return response
