"""Which query-string filters and searches the admin's change lists accept.

Django's admin accepts any lookup on a model's own fields, and some fail only once the query
runs: a 500 where the admin answers a bad lookup with its "invalid" page. Found on both
databases: ``?subscriber__regex=(`` (an invalid pattern), ``?sequence__range=1`` (one bound),
``?shipping_address__contains={}`` (a JSON lookup SQLite lacks), a 100,000-character search
(SQLite: "LIKE pattern too complex"). The change lists' own links only ever compare plain
values, so those lookups are refused (a 400, Django's DisallowedModelAdminLookup) and a
search is at most ``MAX_SEARCH_LENGTH`` characters (longer: the admin's "invalid" page).
"""

from __future__ import annotations

from typing import Any

from django.contrib.admin.options import IncorrectLookupParameters
from django.core.exceptions import FieldDoesNotExist
from django.db.models import JSONField, Model, QuerySet
from django.db.models.constants import LOOKUP_SEP
from django.http import HttpRequest

REFUSED_LOOKUPS = frozenset({"regex", "iregex", "range", "search"})
MAX_SEARCH_LENGTH = 200


def lookup_is_plain(model: type[Model], lookup: str) -> bool:
    """False for a lookup no change list link makes: a pattern, a range, or one into JSON."""
    parts = lookup.split(LOOKUP_SEP)
    if REFUSED_LOOKUPS.intersection(parts):
        return False
    for part in parts:
        try:
            field = model._meta.get_field(part)
        except FieldDoesNotExist:
            return True  # a lookup or transform name: Django checks the rest
        if isinstance(field, JSONField):
            return False
        if not field.is_relation or field.related_model is None:
            return True
        model = field.related_model
    return True


class SafeLookupsMixin:
    """For every ModelAdmin of the project (before ``admin.ModelAdmin`` in the bases)."""

    model: type[Model]

    def lookup_allowed(self, lookup: str, value: str, request: HttpRequest | None = None) -> bool:
        if not lookup_is_plain(self.model, lookup):
            return False
        return super().lookup_allowed(lookup, value, request)  # type: ignore[misc]

    def get_search_results(
        self, request: HttpRequest, queryset: QuerySet[Any], search_term: str
    ) -> tuple[QuerySet[Any], bool]:
        if len(search_term) > MAX_SEARCH_LENGTH:
            raise IncorrectLookupParameters(f"q: at most {MAX_SEARCH_LENGTH} characters")
        return super().get_search_results(request, queryset, search_term)  # type: ignore[misc]
