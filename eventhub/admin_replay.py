"""Replay and redrive in the admin: an action on events (replay the selected events' flows)
and a redrive form beside the retry batches. Both preview what they would send (a dry run)
before anything is written, ask for a reason, and start a batch whose progress shows live
on its page and on the dashboard (see bus/replays.py and bus/redrives.py).

Mixins of EventAdmin and RetryBatchAdmin, kept apart from their lists. Statuses: 403 without
``eventhub.replay_events`` / ``eventhub.redrive_deliveries``; a refused request (a
subscriber that is not replayable, a bad time) is shown on the form with its field, and
nothing is written.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html

from .bus import subscribers
from .bus.redrives import STATUSES, redrive_plan, redrive_start
from .bus.replays import MAX_RATE, ReplayRefused, default_rate, flow_plan, replay_start
from .models import RetryBatch

REPLAY_PERMISSION = "eventhub.replay_events"
REDRIVE_PERMISSION = "eventhub.redrive_deliveries"
PREVIEW_LINES = 100


def _replayable_choices() -> list[tuple[str, str]]:
    return [(s.name, s.name) for s in subscribers.all_subscribers() if s.replayable]


class ReplayForm(forms.Form):
    subscribers = forms.MultipleChoiceField(
        choices=_replayable_choices,
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text="None ticked: every replayable subscriber of each event.",
    )
    rate = forms.IntegerField(min_value=1, max_value=MAX_RATE, initial=default_rate)
    reason = forms.CharField(
        label="Why (kept in the admin log)",
        widget=forms.Textarea(attrs={"rows": 2, "cols": 80}),
        max_length=1000,
        required=False,
    )


class RedriveForm(forms.Form):
    subscriber = forms.ChoiceField(
        choices=lambda: [(s.name, s.name) for s in subscribers.all_subscribers()]
    )
    since = forms.CharField(help_text="ISO-8601, inclusive, e.g. 2026-12-01T17:00:00Z")
    until = forms.CharField(help_text="ISO-8601, exclusive")
    status = forms.ChoiceField(
        choices=[(s, s) for s in STATUSES],
        help_text="dead: requeue its dead letters; all: every event again, as a new "
        "generation (replayable subscribers only)",
    )
    rate = forms.IntegerField(min_value=1, max_value=MAX_RATE, initial=default_rate)
    reason = forms.CharField(
        label="Why (kept in the admin log)",
        widget=forms.Textarea(attrs={"rows": 2, "cols": 80}),
        max_length=1000,
        required=False,
    )


def _started(modeladmin: admin.ModelAdmin, request: HttpRequest, batch: RetryBatch) -> None:
    url = reverse("admin:eventhub_retrybatch_change", args=[batch.pk])
    modeladmin.message_user(
        request,
        format_html(
            "Started: {} {} item(s) at up to {}/s: <a href='{}'>progress of batch {}</a>.",
            batch.kind, batch.total, batch.rate_per_second, url, batch.pk,
        ),
        messages.SUCCESS,
    )  # fmt: skip


class EventReplayMixin:
    """The "Replay the selected events' flows" action, for EventAdmin."""

    admin_site: Any
    model: Any
    message_user: Any

    def has_replay_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm(REPLAY_PERMISSION)

    @admin.action(
        description="Replay the selected events' flows (asks for a reason)",
        permissions=["replay"],
    )
    def replay_flows(self, request: HttpRequest, queryset: QuerySet[Any]) -> HttpResponse | None:
        correlation_ids = list(
            dict.fromkeys(queryset.order_by("id").values_list("correlation_id", flat=True))
        )
        confirmed = "apply" in request.POST
        form = ReplayForm(request.POST if ("preview" in request.POST or confirmed) else None)
        items: list[Any] = []
        error = ""
        status = 200
        if form.is_bound and form.is_valid():
            try:
                items = flow_plan(correlation_ids, chosen=form.cleaned_data["subscribers"])
                if confirmed:
                    batch = replay_start(
                        items,
                        user_id=request.user.pk,
                        reason=form.cleaned_data["reason"],
                        what=f"flows {', '.join(correlation_ids)}"[:150],
                        rate=form.cleaned_data["rate"],
                    )
                    _started(self, request, batch)
                    return None
            except ReplayRefused as exc:
                error, status = str(exc), 400
        elif form.is_bound:
            status = 400
        return TemplateResponse(
            request,
            "admin/eventhub/event/replay.html",
            {
                **self.admin_site.each_context(request),
                "title": "Replay flows",
                "form": form,
                "error": error,
                "correlation_ids": correlation_ids,
                "items": items[:PREVIEW_LINES],
                "more": max(0, len(items) - PREVIEW_LINES),
                "count": len(items),
                "queryset": queryset,
                "opts": self.model._meta,
                "action_checkbox_name": admin.helpers.ACTION_CHECKBOX_NAME,
                "select_across": request.POST.get("select_across", "0"),
            },
            status=status,
        )


class RedriveMixin:
    """The redrive form beside the retry batches, for RetryBatchAdmin."""

    admin_site: Any
    model: Any
    message_user: Any

    def has_redrive_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm(REDRIVE_PERMISSION)

    def redrive_urls(self) -> list[Any]:
        view = self.admin_site.admin_view
        return [path("redrive/", view(self.redrive_view), name="eventhub_retrybatch_redrive")]

    def redrive_view(self, request: HttpRequest) -> HttpResponse:
        """GET: the form; POST ``preview``: what it would do (nothing written); POST
        ``apply``: start the batch and go to its page."""
        if not self.has_redrive_permission(request):
            raise PermissionDenied(f"permission {REDRIVE_PERMISSION} required")
        form = RedriveForm(request.POST if request.method == "POST" else None)
        redrive = None
        error = ""
        status = 200
        if form.is_bound:
            if not form.is_valid():
                status = 400
            else:
                data = form.cleaned_data
                try:
                    redrive = redrive_plan(
                        subscriber=data["subscriber"],
                        since=data["since"],
                        until=data["until"],
                        status=data["status"],
                    )
                    if "apply" in request.POST:
                        batch = redrive_start(
                            redrive,
                            user_id=request.user.pk,
                            reason=data["reason"],
                            rate=data["rate"],
                        )
                        _started(self, request, batch)
                        return HttpResponseRedirect(
                            reverse("admin:eventhub_retrybatch_change", args=[batch.pk])
                        )
                except ReplayRefused as exc:
                    error, status = str(exc), 400
        lines: list[str] = []
        if redrive is not None:
            lines = (
                [f"requeue dead letter {pk}" for pk in redrive.dead_letters]
                if redrive.status == "dead"
                else [f"send {item.describe()}" for item in redrive.replays]
            )
        return TemplateResponse(
            request,
            "admin/eventhub/retrybatch/redrive.html",
            {
                **self.admin_site.each_context(request),
                "title": "Redrive a subscriber over a time window",
                "form": form,
                "error": error,
                "redrive": redrive,
                "lines": lines[:PREVIEW_LINES],
                "more": max(0, len(lines) - PREVIEW_LINES),
                "opts": self.model._meta,
            },
            status=status,
        )
