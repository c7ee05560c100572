"""The seed's JSON API conventions, shared by every app's api.py.

Success: ``{"success": true, "data": ...}``; failure: ``{"success": false, "error": "..."}``.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import wraps
from typing import Any, Generic, TypeVar
from urllib.parse import urlencode

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.core.serializers.json import DjangoJSONEncoder
from django.db.models import Model, QuerySet
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.csrf import csrf_failure as django_csrf_failure
from django.views.decorators.csrf import csrf_exempt

MAX_INT64 = 2**63 - 1
"""No query parameter may exceed what a BIGINT column (and SQLite's INTEGER) holds."""


class BadRequest(Exception):
    """Input that names its faulty field; becomes a 400 (or ``status``)."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


def success(data: Any, status: int = 200, **extra: Any) -> JsonResponse:
    return JsonResponse(
        {"success": True, "data": data, **extra},
        status=status,
        encoder=DjangoJSONEncoder,
        json_dumps_params={"ensure_ascii": False},
    )


def failure(error: str, status: int) -> JsonResponse:
    return JsonResponse({"success": False, "error": error}, status=status)


JSON_CONTENT_TYPE = "application/json"


def require_json_content_type(request: HttpRequest) -> None:
    """BadRequest 415 unless the body is declared ``application/json`` (any case, parameters
    such as ``charset`` allowed). Only that type: a ``+json`` suffix names another format
    (problem+json, merge-patch+json) that no endpoint here speaks, and a form or text body
    must not be taken for an order because it happens to parse as JSON."""
    if (request.content_type or "").lower() != JSON_CONTENT_TYPE:
        raise BadRequest(f"Content-Type must be {JSON_CONTENT_TYPE}", 415)


def json_body(request: HttpRequest) -> Any:
    """The request body parsed as JSON, or BadRequest (415 when not declared JSON, 413 when
    over the size limit)."""
    require_json_content_type(request)
    limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    try:
        raw = request.body
    except RequestDataTooBig:
        raise BadRequest(f"body: larger than the limit of {limit} bytes", 413) from None
    if len(raw) > limit:
        raise BadRequest(f"body: larger than the limit of {limit} bytes", 413)
    try:
        return json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise BadRequest("body: must be valid JSON") from None
    except RecursionError:
        raise BadRequest("body: JSON is nested too deeply") from None


def int_param(
    request: HttpRequest,
    name: str,
    *,
    default: int | None = None,
    minimum: int = 0,
    maximum: int | None = None,
) -> int | None:
    raw = request.GET.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise BadRequest(f"{name}: must be an integer") from None
    upper = MAX_INT64 if maximum is None else min(maximum, MAX_INT64)
    if not minimum <= value <= upper:
        raise BadRequest(f"{name}: must be between {minimum} and {upper}")
    return value


def text_param(request: HttpRequest, name: str, *, max_length: int) -> str | None:
    """A text filter: None when absent or empty, else printable and at most ``max_length``
    characters (a NUL would be a 500 on PostgreSQL, and no stored value holds any control
    character), or BadRequest naming it."""
    value = request.GET.get(name)
    if not value:
        return None
    if not value.isprintable():
        raise BadRequest(f"{name}: must not contain control characters")
    if len(value) > max_length:
        raise BadRequest(f"{name}: must be at most {max_length} characters")
    return value


def page_links(request: HttpRequest, **params: Any) -> str:
    query = request.GET.copy()
    for key, value in params.items():
        query[key] = str(value)
    return f"{request.path}?{urlencode(sorted(query.items()))}"


def limit_param(request: HttpRequest, default: int = 100, maximum: int = 1000) -> int:
    value = int_param(request, "limit", default=default, minimum=1, maximum=maximum)
    assert value is not None
    return value


M = TypeVar("M", bound=Model)


@dataclass(frozen=True)
class OffsetPage(Generic[M]):
    """A page of a list by ``limit`` and ``offset``, as ``/orders`` and ``/inventory`` page.

    Parsed before a view reads its other parameters, so a bad ``limit`` or ``offset`` is the
    error named first, as it always was.
    """

    request: HttpRequest
    limit: int
    offset: int

    @classmethod
    def of(cls, request: HttpRequest, *, default: int, maximum: int) -> OffsetPage[M]:
        limit = limit_param(request, default=default, maximum=maximum)
        return cls(request, limit, int_param(request, "offset", default=0) or 0)

    def respond(self, rows: QuerySet[M], render: Callable[[M], Any]) -> JsonResponse:
        """The page of ``rows``, each rendered, with ``pagination`` (``next``: the next page's
        URL, or null on the last)."""
        total = rows.count()
        end = self.offset + self.limit
        return success(
            [render(row) for row in rows[self.offset : end]],
            pagination={
                "limit": self.limit,
                "offset": self.offset,
                "total": total,
                "next": page_links(self.request, offset=end) if end < total else None,
            },
        )


def method_not_allowed(request: HttpRequest, methods: Sequence[str]) -> JsonResponse:
    """405 in the API's shape, with the ``Allow`` header."""
    response = failure(f"method {request.method} not allowed", 405)
    response["Allow"] = ", ".join(methods)
    return response


def json_methods(*methods: str):  # noqa: ANN201 - a decorator factory
    """``require_http_methods`` for a JSON endpoint: a wrong method is a 405 in JSON."""

    def decorate(view):  # noqa: ANN001, ANN202
        @wraps(view)
        def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> JsonResponse:
            if request.method not in methods:
                return method_not_allowed(request, methods)
            return view(request, *args, **kwargs)

        wrapper.json_api = True  # type: ignore[attr-defined] - errors in JSON (nul_guard, CSRF)
        return wrapper

    return decorate


def csrf_failure(request: HttpRequest, reason: str = "") -> HttpResponse:
    """``CSRF_FAILURE_VIEW``: a JSON endpoint (``json_api``: the dashboard's) that refuses a
    request for its CSRF token answers 403 in JSON naming the problem; every page keeps
    Django's HTML page."""
    match = getattr(request, "resolver_match", None)
    if match is not None and getattr(match.func, "json_api", False):
        return failure(
            f"CSRF check failed: {reason.rstrip('.')}. Send the csrftoken cookie's value "
            "in the X-CSRFToken header.",
            403,
        )
    return django_csrf_failure(request, reason)


def api_view(*methods: str):  # noqa: ANN201 - a decorator factory
    """JSON endpoint: anonymous (no CSRF, grants nothing to cookies), seed error shape."""

    def decorate(view):  # noqa: ANN001, ANN202
        @csrf_exempt
        @wraps(view)
        def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> JsonResponse:
            if request.method not in methods:
                return method_not_allowed(request, methods)
            try:
                return view(request, *args, **kwargs)
            except BadRequest as exc:
                return failure(exc.message, exc.status)

        wrapper.json_api = True  # type: ignore[attr-defined] - errors in JSON (nul_guard)
        return wrapper

    return decorate
