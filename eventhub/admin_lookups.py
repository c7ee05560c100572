"""Which query-string filters and searches the admin's change lists accept.

Django's admin accepts any lookup on a model's own fields, and some fail only once the query
runs: a 500 where the admin answers a bad lookup with its "invalid" page. Found on both
databases: ``?subscriber__regex=(`` (an invalid pattern), ``?sequence__range=1`` (one bound),
``?shipping_address__contains={}`` (a JSON lookup SQLite lacks), a 100,000-character search
(SQLite: "LIKE pattern too complex"). The change lists' own links only ever compare plain
values, so those lookups are refused (a 400, Django's DisallowedModelAdminLookup) and a
search is at most ``MAX_SEARCH_LENGTH`` characters (longer: the admin's "invalid" page).

An action's selection (``_selected_action``, the ids of the ticked rows) is checked the same
way before the action runs: an id the primary key cannot hold (``abc``, beyond 64 bits) was
a 500 (the ``pk__in`` filter raised); it is now the admin's error message and a redirect to
the list, and nothing is done. A confirmation page carries the selection back compactly
(``carried_selection``): "select all N" is the flag and the list's filters, not N ids.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import messages
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.contrib.admin.options import IncorrectLookupParameters
from django.core.exceptions import FieldDoesNotExist, ValidationError
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


def carried_selection(request: HttpRequest) -> tuple[bool, list[str]]:
    """What an action's confirmation page posts back of the selection: ``select_across`` and
    the ticked ids. With ``select_across`` the list's filters (the URL's query string, where
    the confirmation's form posts again) say what is selected, re-read on confirm, so one id
    is enough (Django runs an action only when one is posted) however many rows match."""
    across = bool(forms.BooleanField(required=False).to_python(request.POST.get("select_across")))
    selected = request.POST.getlist(ACTION_CHECKBOX_NAME)
    return across, selected[:1] if across else selected


def bad_selected_id(model: type[Model], selected: list[str]) -> str | None:
    """The first of ``selected`` that is not a valid primary key of ``model``, or None."""
    pk = model._meta.pk
    for value in selected:
        try:
            pk.run_validators(pk.to_python(value))
        except ValidationError:
            return value
    return None


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

    def response_action(self, request: HttpRequest, queryset: QuerySet[Any]) -> Any:
        bad = bad_selected_id(self.model, request.POST.getlist(ACTION_CHECKBOX_NAME))
        if bad is not None:
            self.message_user(  # type: ignore[attr-defined]
                request,
                f"Nothing done: {ACTION_CHECKBOX_NAME}: {bad[:40]!r} is not the id of "
                f"a {self.model._meta.verbose_name}.",
                messages.ERROR,
            )
            return None  # the change list redirects to itself, where the message shows
        return super().response_action(request, queryset)  # type: ignore[misc]
