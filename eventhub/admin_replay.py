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

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html

from .admin_lookups import carried_selection
from .bus import subscribers
from .bus.reasons import validate_reason
from .bus.redrives import STATUSES, redrive_plan, redrive_start
from .bus.replays import MAX_RATE, ReplayRefused, default_rate, flow_plan, replay_start
from .models import RetryBatch

REPLAY_PERMISSION = "eventhub.replay_events"
REDRIVE_PERMISSION = "eventhub.redrive_deliveries"
PREVIEW_LINES = 100
Plan = TypeVar("Plan")


def _replayable_choices() -> list[tuple[str, str]]:
    return [(s.name, s.name) for s in subscribers.all_subscribers() if s.replayable]


def _rate_and_reason() -> tuple[forms.IntegerField, forms.CharField]:
    """The last two fields of both forms: the batch's pace, and why (kept in the admin log)."""
    return (
        forms.IntegerField(min_value=1, max_value=MAX_RATE, initial=default_rate),
        forms.CharField(
            label="Why (kept in the admin log)",
            widget=forms.Textarea(attrs={"rows": 2, "cols": 80}),
            max_length=1000,
            required=False,
            validators=[validate_reason],
        ),
    )


class ReplayForm(forms.Form):
    subscribers = forms.MultipleChoiceField(
        choices=_replayable_choices,
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text="None ticked: every replayable subscriber of each event.",
    )
    rate, reason = _rate_and_reason()


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
    rate, reason = _rate_and_reason()


@dataclass
class _Outcome(Generic[Plan]):
    """What a replay or redrive form came to: its plan (the preview), the batch it started,
    and the refusal shown on the form with its status."""

    plan: Plan | None = None
    batch: RetryBatch | None = None
    error: str = ""
    status: int = 200


class _BatchFormMixin:
    """The steps both forms share: validate, plan (a dry run), start on ``apply``, render."""

    admin_site: Any
    model: Any
    message_user: Any

    def _run_form(
        self,
        request: HttpRequest,
        form: forms.Form,
        *,
        apply: bool,
        plan: Callable[[dict[str, Any]], Plan],
        start: Callable[[Plan, dict[str, Any]], RetryBatch],
    ) -> _Outcome[Plan]:
        """An unbound form is a first look (200); an invalid one or a refused plan is 400,
        with nothing written. A started batch is announced with a link to its progress."""
        outcome: _Outcome[Plan] = _Outcome()
        if not form.is_bound:
            return outcome
        if not form.is_valid():
            outcome.status = 400
            return outcome
        try:
            outcome.plan = plan(form.cleaned_data)
            if apply:
                outcome.batch = start(outcome.plan, form.cleaned_data)
                self._announce(request, outcome.batch)
        except ReplayRefused as exc:
            outcome.error, outcome.status = str(exc), 400
        return outcome

    def _announce(self, request: HttpRequest, batch: RetryBatch) -> None:
        url = reverse("admin:eventhub_retrybatch_change", args=[batch.pk])
        self.message_user(
            request,
            format_html(
                "Started: {} {} item(s) at up to {}/s: <a href='{}'>progress of batch {}</a>.",
                batch.kind, batch.total, batch.rate_per_second, url, batch.pk,
            ),
            messages.SUCCESS,
        )  # fmt: skip

    def _form_page(
        self,
        request: HttpRequest,
        template: str,
        *,
        title: str,
        form: forms.Form,
        outcome: _Outcome[Any],
        preview: list[Any],
        **context: Any,
    ) -> TemplateResponse:
        """The form page: the form, its refusal, and the first ``PREVIEW_LINES`` of its dry
        run (``more``: how many were left out, of ``count``)."""
        return TemplateResponse(
            request,
            template,
            {
                **self.admin_site.each_context(request),
                "title": title,
                "form": form,
                "error": outcome.error,
                "preview": preview[:PREVIEW_LINES],
                "more": max(0, len(preview) - PREVIEW_LINES),
                "count": len(preview),
                "opts": self.model._meta,
                **context,
            },
            status=outcome.status,
        )


class EventReplayMixin(_BatchFormMixin):
    """The "Replay the selected events' flows" action, for EventAdmin."""

    def has_replay_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm(REPLAY_PERMISSION)

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        """Who may replay events may see them: the action is on the event list."""
        return super().has_view_permission(request, obj) or self.has_replay_permission(  # type: ignore[misc]
            request
        )

    @admin.action(
        description="Replay the selected events' flows (asks for a reason)",
        permissions=["replay"],
    )
    def replay_flows(self, request: HttpRequest, queryset: QuerySet[Any]) -> HttpResponse | None:
        correlation_ids = list(
            dict.fromkeys(queryset.order_by("id").values_list("correlation_id", flat=True))
        )
        across, selected_ids = carried_selection(request)
        confirmed = "apply" in request.POST
        form = ReplayForm(request.POST if ("preview" in request.POST or confirmed) else None)
        outcome = self._run_form(
            request,
            form,
            apply=confirmed,
            plan=lambda data: flow_plan(correlation_ids, chosen=data["subscribers"]),
            start=lambda items, data: replay_start(
                items,
                user_id=request.user.pk,
                reason=data["reason"],
                what=f"flows {', '.join(correlation_ids)}"[:150],
                rate=data["rate"],
            ),
        )
        if outcome.batch is not None:
            return HttpResponseRedirect(
                reverse("admin:eventhub_retrybatch_change", args=[outcome.batch.pk])
            )
        return self._form_page(
            request,
            "admin/eventhub/event/replay.html",
            title="Replay flows",
            form=form,
            outcome=outcome,
            preview=outcome.plan or [],
            correlation_ids=correlation_ids,
            events=queryset.count(),
            flows=len(correlation_ids),
            selected_ids=selected_ids,
            action_checkbox_name=admin.helpers.ACTION_CHECKBOX_NAME,
            select_across=int(across),
        )


class RedriveMixin(_BatchFormMixin):
    """The redrive form beside the retry batches, for RetryBatchAdmin."""

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
        outcome = self._run_form(
            request,
            form,
            apply="apply" in request.POST,
            plan=lambda data: redrive_plan(
                subscriber=data["subscriber"],
                since=data["since"],
                until=data["until"],
                status=data["status"],
            ),
            start=lambda redrive, data: redrive_start(
                redrive, user_id=request.user.pk, reason=data["reason"], rate=data["rate"]
            ),
        )
        if outcome.batch is not None:
            return HttpResponseRedirect(
                reverse("admin:eventhub_retrybatch_change", args=[outcome.batch.pk])
            )
        redrive = outcome.plan
        lines: list[str] = []
        if redrive is not None:
            lines = (
                [f"requeue dead letter {pk}" for pk in redrive.dead_letters]
                if redrive.status == "dead"
                else [f"send {item.describe()}" for item in redrive.replays]
            )
        return self._form_page(
            request,
            "admin/eventhub/retrybatch/redrive.html",
            title="Redrive a subscriber over a time window",
            form=form,
            outcome=outcome,
            preview=lines,
            redrive=redrive,
        )
