"""The operator's admin: events (read-only), deliveries with attempts, dead letters to repair,
retry batches with progress, fault switches."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC
from typing import Any

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.contrib.admin.exceptions import DisallowedModelAdminLookup
from django.contrib.admin.options import IncorrectLookupParameters
from django.contrib.auth import admin as auth_admin
from django.contrib.auth.models import Group, User
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import (
    Http404,
    HttpRequest,
    HttpResponse,
    HttpResponseNotAllowed,
    HttpResponseRedirect,
    JsonResponse,
    QueryDict,
)
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join
from django.utils.http import urlencode

from .admin_edit_retry import EditAndRetryMixin
from .admin_lookups import SafeLookupsMixin, carried_selection
from .admin_replay import EventReplayMixin, RedriveMixin
from .bus import subscribers
from .bus.reasons import validate_reason
from .bus.retry_batches import retry_batch_cancel
from .dead_letter_actions import discard_requested, retry_requested
from .dead_letter_groups import dead_letter_fingerprint_groups
from .models import Attempt, DeadLetter, Delivery, Event, FaultRule, RetryBatch
from .nul_guard import NUL

# The app list lives on the index page; without the side bar beside every list, the operator's
# tables (dead letters, attempts) fit 1280 px with their filters.
admin.site.enable_nav_sidebar = False


def dotted(name: str) -> str:
    """A dotted name that may wrap after its dots, never inside a word."""
    return format_html_join(".<wbr>", "{}", ((part,) for part in name.split(".")))


class ReadOnlyAdmin(SafeLookupsMixin, admin.ModelAdmin):
    """The event store and delivery log are written by the bus only."""

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


def pretty_json(data: Any) -> str:
    """Event data as escaped text in a <pre>: payloads are user input, never markup."""
    return format_html(
        "<pre class='eventhub-json'>{}</pre>", json.dumps(data, indent=2, ensure_ascii=False)
    )


def flow_link(correlation_id: str) -> str:
    url = f"{reverse('dashboard')}?{urlencode({'flow': correlation_id})}"
    return format_html("<a href='{}'>flow on the dashboard</a>", url)


def trace_link(event: Event) -> str:
    if not event.trace_id:
        return "-"
    template = settings.EVENTHUB["TRACE_URL_TEMPLATE"]
    url = (
        template.format(trace_id=event.trace_id)
        if template
        else reverse("flow-spans", args=[event.correlation_id])
    )
    return format_html("<a href='{}'>{}</a>", url, event.trace_id)


class DeliveryInline(admin.TabularInline):
    model = Delivery
    fk_name = "event"
    classes = ["eventhub-readonly"]  # admin.css: no "Add another" row, whatever the script does
    extra = 0
    can_delete = False
    show_change_link = True
    fields = ("subscriber", "status", "attempts", "max_attempts", "error_type", "updated_at")
    readonly_fields = fields

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Event)
class EventAdmin(EventReplayMixin, ReadOnlyAdmin):
    actions = ["replay_flows"]
    list_display = (
        "event_type",
        "version",
        "aggregate_id",
        "sequence",
        "source",
        "correlation_id",
        "recorded_at",
    )
    list_filter = ("event_type", "source")
    search_fields = ("=event_id", "event_type", "=correlation_id", "=aggregate_id")
    readonly_fields = (
        "event_id", "event_type", "version", "source", "aggregate_type", "aggregate_id",
        "sequence", "timestamp", "correlation_id", "causation_id", "recorded_at",
        "payload", "flow", "trace",
    )  # fmt: skip
    exclude = ("data", "trace_context", "trace_id")
    inlines = [DeliveryInline]

    @admin.display(description="data")
    def payload(self, obj: Event) -> str:
        return pretty_json(obj.data)

    @admin.display(description="flow")
    def flow(self, obj: Event) -> str:
        return flow_link(obj.correlation_id)

    @admin.display(description="trace")
    def trace(self, obj: Event) -> str:
        return trace_link(obj)


ERROR_CHARS_SHOWN = 120
SHOWN = 50
"""Rows a confirmation page lists of its selection (it counts the rest)."""


def folded(text: str, summary: str) -> str:
    """Long text (an error, a traceback) folded behind a <details>, so that a table row stays
    one line wide; the whole text is one click away (escaped, never markup)."""
    if not text:
        return "-"
    return format_html(
        "<details class='eventhub-fold'><summary>{}</summary><pre>{}</pre></details>",
        summary,
        text,
    )


def short_text(text: str, limit: int = ERROR_CHARS_SHOWN) -> str:
    """The first ``limit`` characters on one line, the whole text on hover."""
    if not text:
        return "-"
    line = " ".join(text.split())
    shown = line if len(line) <= limit else line[: limit - 1] + "…"
    return format_html("<span class='eventhub-short' title='{}'>{}</span>", text, shown)


def exact_time(moment: Any) -> str:
    """A moment to the millisecond, in UTC: retries a fraction of a second apart read apart."""
    if moment is None:
        return "-"
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3] + " UTC"


class AttemptInline(admin.TabularInline):
    model = Attempt
    classes = ["eventhub-readonly"]  # admin.css: no "Add another" row, whatever the script does
    extra = 0
    can_delete = False
    fields = ("number", "outcome", "worker", "started", "waited", "duration", "error_text",
              "traceback_text")  # fmt: skip
    readonly_fields = fields

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    @admin.display(description="started")
    def started(self, obj: Attempt) -> str:
        return exact_time(obj.started_at)

    @admin.display(description="after the previous")
    def waited(self, obj: Attempt) -> str:
        previous = (
            Attempt.objects.filter(delivery_id=obj.delivery_id, number__lt=obj.number)
            .order_by("-number")
            .values_list("started_at", flat=True)
            .first()
        )
        if previous is None:
            return "-"
        return f"+{(obj.started_at - previous).total_seconds():.1f} s"

    @admin.display(description="duration")
    def duration(self, obj: Attempt) -> str:
        return "-" if obj.duration_ms is None else f"{obj.duration_ms:.0f} ms"

    @admin.display(description="error")
    def error_text(self, obj: Attempt) -> str:
        return short_text(obj.error, 80)

    @admin.display(description="traceback")
    def traceback_text(self, obj: Attempt) -> str:
        lines = len(obj.traceback.splitlines())
        return folded(obj.traceback, f"traceback ({lines} lines)")


class DeliveryAdminBase(ReadOnlyAdmin):
    list_display = (
        "subscriber",
        "event_type",
        "status",
        "attempts_of_max",
        "error_type",
        "updated_at",
    )
    list_filter = ("status", "subscriber", "queue", "error_type")
    search_fields = ("=event__event_id", "=event__correlation_id", "subscriber")
    list_select_related = ("event",)
    readonly_fields = (
        "event_link", "subscriber", "generation", "queue", "guarantee", "status", "attempts",
        "max_attempts", "next_attempt_at", "dispatched_at", "last_error", "error_type", "dead_at",
        "retried_at", "discard_reason", "resolved_by_link", "payload", "flow", "trace",
    )  # fmt: skip
    fields = readonly_fields
    inlines = [AttemptInline]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Any]:
        # The title says what failed on what (Delivery.__str__ reads the event).
        return super().get_queryset(request).select_related("event")

    @admin.display(description="event", ordering="event__event_type")
    def event_type(self, obj: Delivery) -> str:
        return dotted(obj.event.event_type)

    @admin.display(description="attempts")
    def attempts_of_max(self, obj: Delivery) -> str:
        return f"{obj.attempts}/{obj.max_attempts}"

    @admin.display(description="event")
    def event_link(self, obj: Delivery) -> str:
        url = reverse("admin:eventhub_event_change", args=[obj.event_id])
        return format_html("<a href='{}'>{} {}</a>", url, obj.event.event_type, obj.event.event_id)

    @admin.display(description="resolved by")
    def resolved_by_link(self, obj: Delivery) -> str:
        """The correction event that replaced this dead letter (edit & retry), if any."""
        if obj.resolved_by_id is None:
            return "-"
        url = reverse("admin:eventhub_event_change", args=[obj.resolved_by_id])
        return format_html("<a href='{}' id='resolved-by'>correction event {}</a>", url,
                           obj.resolved_by.event_id)  # fmt: skip

    @admin.display(description="payload")
    def payload(self, obj: Delivery) -> str:
        return pretty_json(obj.event.data)

    @admin.display(description="flow")
    def flow(self, obj: Delivery) -> str:
        return flow_link(obj.event.correlation_id)

    @admin.display(description="trace")
    def trace(self, obj: Delivery) -> str:
        return trace_link(obj.event)


@admin.register(Delivery)
class DeliveryAdmin(DeliveryAdminBase):
    pass


class DiscardForm(forms.Form):
    reason = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3}),
        max_length=2000,
        strip=True,
        validators=[validate_reason],
    )


@admin.register(DeadLetter)
class DeadLetterAdmin(EditAndRetryMixin, DeliveryAdminBase):
    list_display = (
        "subscriber_name",
        "event_type",
        "short_error",
        "attempts",
        "dead_at",
        "flow",
    )  # the error type is the error's first word, and a filter
    list_filter = ("subscriber", "error_type")
    actions = ["retry_selected", "discard_selected"]
    change_list_template = "admin/eventhub/deadletter/change_list.html"
    change_form_template = "admin/eventhub/deadletter/change_form.html"

    def has_retry_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("eventhub.retry_deadletter")

    def has_discard_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("eventhub.discard_deadletter")

    @admin.display(description="error")
    def short_error(self, obj: Delivery) -> str:
        return short_text(obj.last_error, 90)

    @admin.display(description="subscriber", ordering="subscriber")
    def subscriber_name(self, obj: Delivery) -> str:
        return dotted(obj.subscriber)

    def get_urls(self) -> list[Any]:
        view = self.admin_site.admin_view
        return [
            path("groups/", view(self.groups_view), name="eventhub_deadletter_groups"),
            path(
                "retry-matching/",
                view(self.retry_matching_view),
                name="eventhub_deadletter_retry_matching",
            ),
            path("<int:pk>/retry/", view(self.retry_one_view), name="eventhub_deadletter_retry"),
            path(
                "<int:pk>/discard/", view(self.discard_one_view), name="eventhub_deadletter_discard"
            ),
            *self.edit_retry_urls(),
            *super().get_urls(),
        ]

    def _start_batch(self, request: HttpRequest, queryset: QuerySet[Any], why: str) -> RetryBatch:
        # A retry of dead letters as they are (one, the selected, all matching, a group) only
        # starts a retry batch: the relay requeues them at the batch's rate
        # (bus/retry_batches.py::advance -> bus/dead_letters.py::dead_letter_retry). An edit
        # and retry publishes a correction instead (bus/corrections.py).
        ids = list(queryset.values_list("pk", flat=True))
        batch = retry_requested(user_id=request.user.pk, delivery_ids=ids, why=why)
        url = reverse("admin:eventhub_retrybatch_change", args=[batch.pk])
        self.message_user(
            request,
            format_html(
                "Retrying {} dead letter(s) at up to {}/s: <a href='{}'>progress of batch {}</a>.",
                batch.total, batch.rate_per_second, url, batch.pk,
            ),
            messages.SUCCESS,
        )  # fmt: skip
        return batch

    @admin.action(description="Retry the selected dead letters", permissions=["retry"])
    def retry_selected(self, request: HttpRequest, queryset: QuerySet[Any]) -> None:
        self._start_batch(request, queryset, "selected")

    @admin.action(
        description="Discard the selected dead letters (asks for a reason)", permissions=["discard"]
    )
    def discard_selected(
        self, request: HttpRequest, queryset: QuerySet[Any]
    ) -> HttpResponse | None:
        across, selected_ids = carried_selection(request)
        form = DiscardForm(request.POST if "apply" in request.POST else None)
        if form.is_valid():
            ids = list(queryset.values_list("pk", flat=True))
            reason = form.cleaned_data["reason"]
            discarded = discard_requested(user_id=request.user.pk, delivery_ids=ids, reason=reason)
            self.message_user(
                request, f"Discarded {len(discarded)} dead letter(s).", messages.SUCCESS
            )
            return None
        return TemplateResponse(
            request,
            "admin/eventhub/deadletter/discard.html",
            {
                **self.admin_site.each_context(request),
                "title": "Discard dead letters",
                "form": form,
                "count": queryset.count(),
                "shown": queryset.select_related("event").order_by("pk")[:SHOWN],
                "selected_ids": selected_ids,
                "opts": self.model._meta,
                "action_checkbox_name": admin.helpers.ACTION_CHECKBOX_NAME,
                "select_across": int(across),
            },
            status=400 if form.is_bound else 200,  # bound and not valid: refused, by field
        )

    def change_view(
        self,
        request: HttpRequest,
        object_id: str,
        form_url: str = "",
        extra_context: dict[str, Any] | None = None,
    ) -> HttpResponse:
        """The detail page, with Retry and Discard for those who may (see change_form.html)."""
        rights = {
            "can_retry": self.has_retry_permission(request),
            "can_discard": self.has_discard_permission(request),
            "can_edit": self.has_edit_permission(request),
            "discard_form": DiscardForm(auto_id="id_discard_%s"),
        }
        return super().change_view(
            request, object_id, form_url, {**rights, **(extra_context or {})}
        )

    def _posted_on_dead_letter(
        self,
        request: HttpRequest,
        pk: int,
        permitted: Callable[[HttpRequest], bool],
        action: str,
    ) -> Delivery | HttpResponse:
        """What an action on one dead letter from its detail page checks first: a POST (else
        405), by a user ``permitted`` to ``action`` dead letters (else 403), on a dead letter
        (``_dead_or_refused``). The dead letter, or the response to send instead."""
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        if not permitted(request):
            raise PermissionDenied(f"permission eventhub.{action}_deadletter required")
        return self._dead_or_refused(request, pk)

    def _dead_or_refused(self, request: HttpRequest, pk: int) -> Delivery | HttpResponse:
        """The dead letter ``pk``; 404 if there is no such delivery, 400 if it is not dead."""
        delivery = Delivery.objects.select_related("event").filter(pk=pk).first()
        if delivery is None:
            raise Http404(f"id: no delivery {pk}")
        if delivery.status != Delivery.Status.DEAD:
            return self._refused(
                request,
                delivery,
                f"id: delivery {pk} is {delivery.status}, not dead; "
                "only dead letters can be retried or discarded.",
            )
        return delivery

    def _refused(
        self,
        request: HttpRequest,
        delivery: Delivery,
        error: str,
        form: DiscardForm | None = None,
    ) -> HttpResponse:
        return TemplateResponse(
            request,
            "admin/eventhub/deadletter/refused.html",
            {
                **self.admin_site.each_context(request),
                "title": "Dead letter not changed",
                "opts": self.model._meta,
                "delivery": delivery,
                "error": error,
                "discard_form": form,
            },
            status=400,
        )

    def _after_repair(self, request: HttpRequest, delivery: Delivery) -> HttpResponseRedirect:
        """To the delivery's own page (the dead-letter page is gone once it is not dead)."""
        if request.user.has_perm("eventhub.view_delivery") or request.user.has_perm(
            "eventhub.change_delivery"
        ):
            return HttpResponseRedirect(
                reverse("admin:eventhub_delivery_change", args=[delivery.pk])
            )
        return HttpResponseRedirect(reverse("admin:eventhub_deadletter_changelist"))

    def retry_one_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        """POST from the detail page: retry this dead letter (through a retry batch)."""
        found = self._posted_on_dead_letter(request, pk, self.has_retry_permission, "retry")
        if isinstance(found, HttpResponse):
            return found
        self._start_batch(request, Delivery.objects.filter(pk=found.pk), "detail page")
        return self._after_repair(request, found)

    def discard_one_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        """POST ``reason`` from the detail page: discard this dead letter with that reason."""
        found = self._posted_on_dead_letter(request, pk, self.has_discard_permission, "discard")
        if isinstance(found, HttpResponse):
            return found
        form = DiscardForm(request.POST, auto_id="id_discard_%s")
        if not form.is_valid():
            errors = "; ".join(f"{name}: {' '.join(e)}" for name, e in form.errors.items())
            return self._refused(request, found, errors, form)
        reason = form.cleaned_data["reason"]
        discarded = discard_requested(
            user_id=request.user.pk, delivery_ids=[found.pk], reason=reason
        )
        if discarded:
            self.message_user(request, "Discarded 1 dead letter.", messages.SUCCESS)
        else:  # retried or discarded by someone else in the meantime
            self.message_user(request, "Not discarded: it is no longer dead.", messages.WARNING)
        return self._after_repair(request, found)

    def retry_matching_view(self, request: HttpRequest) -> HttpResponse:
        """POST: retry every dead letter matching the change list's current filters.

        The filters come back from the page as a query string: one that the change list
        cannot apply (``dead_at__gte=notadate``, ``attempts__gt=x``, a NUL) starts nothing
        and goes back to the list with the reason."""
        changelist_url = reverse("admin:eventhub_deadletter_changelist")
        if not self.has_view_permission(request):
            raise PermissionDenied
        if request.method != "POST" or not self.has_retry_permission(request):
            self.message_user(request, "You may not retry dead letters.", messages.ERROR)
            return HttpResponseRedirect(changelist_url)
        query = request.POST.get("query", "")
        filters = QueryDict(query)
        try:
            if any(NUL in name or NUL in value for name, value in filters.items()):
                raise IncorrectLookupParameters("a filter contains a NUL character")
            request.GET = filters
            matching = self.get_changelist_instance(request).get_queryset(request)
        except (IncorrectLookupParameters, DisallowedModelAdminLookup) as exc:
            self.message_user(
                request,
                f"Nothing retried: the filters {query!r} are not valid ({exc}).",
                messages.ERROR,
            )
            return HttpResponseRedirect(changelist_url)
        self._start_batch(request, matching, f"all matching {query or 'all'}")
        return HttpResponseRedirect(f"{changelist_url}?{query}" if query else changelist_url)

    def groups_view(self, request: HttpRequest) -> HttpResponse:
        """Dead letters grouped by subscriber and failure fingerprint (exception type + first
        project frame), with first and last seen, each group retryable at once.
        Like the list, it needs the view permission on dead letters (their counts, subscribers
        and error types are what the list shows)."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        if request.method == "POST":
            if not self.has_retry_permission(request):
                self.message_user(request, "You may not retry dead letters.", messages.ERROR)
            else:
                group = DeadLetter.objects.filter(
                    subscriber=request.POST.get("subscriber", ""),
                    error_type=request.POST.get("error_type", ""),
                )
                if "fingerprint" in request.POST:
                    group = group.filter(fingerprint=request.POST["fingerprint"])
                self._start_batch(request, group, "group")
            return HttpResponseRedirect(reverse("admin:eventhub_deadletter_groups"))
        groups = dead_letter_fingerprint_groups()
        return TemplateResponse(
            request,
            "admin/eventhub/deadletter/groups.html",
            {
                **self.admin_site.each_context(request),
                "title": "Dead letters by subscriber and failure fingerprint",
                "groups": groups,
                "opts": self.model._meta,
                "can_retry": self.has_retry_permission(request),
            },
        )


def batch_progress(batch: RetryBatch) -> dict[str, Any]:
    """What the batch page shows live (the JSON of its progress endpoint)."""
    return {
        "id": batch.pk,
        "status": batch.status,
        "total": batch.total,
        "done": batch.done,
        "requeued": batch.requeued,
        "ratePerSecond": batch.rate_per_second,
        "kind": batch.kind,
    }


@admin.register(RetryBatch)
class RetryBatchAdmin(RedriveMixin, ReadOnlyAdmin):
    list_display = (
        "pk",
        "kind",
        "requested_by",
        "progress",
        "status",
        "requeued",
        "rate_per_second",
        "created_at",
        "finished_at",
    )
    readonly_fields = (
        "kind",
        "requested_by",
        "reason",
        "progress",
        "status",
        "total",
        "done",
        "requeued",
        "rate_per_second",
        "created_at",
        "finished_at",
        "cancelled_at",
        "cancelled_by",
    )
    exclude = ("delivery_ids", "replays", "paced_from", "advanced_at")
    actions = ["cancel_selected"]
    change_form_template = "admin/eventhub/retrybatch/change_form.html"
    change_list_template = "admin/eventhub/retrybatch/change_list.html"

    def has_cancel_permission(self, request: HttpRequest) -> bool:
        """Whoever may start a batch may stop one."""
        user = request.user
        return any(
            user.has_perm(p)
            for p in (
                "eventhub.retry_deadletter",
                "eventhub.replay_events",
                "eventhub.redrive_deliveries",
            )
        )

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        """Whoever may start a batch may follow it: starting one leads to its page."""
        return super().has_view_permission(request, obj) or self.has_cancel_permission(request)

    def get_urls(self) -> list[Any]:
        view = self.admin_site.admin_view
        return [
            path(
                "<int:batch_id>/progress.json",
                view(self.progress_view),
                name="eventhub_retrybatch_progress",
            ),
            path(
                "<int:batch_id>/cancel/",
                view(self.cancel_view),
                name="eventhub_retrybatch_cancel",
            ),
            *self.redrive_urls(),
            *super().get_urls(),
        ]

    def change_view(
        self,
        request: HttpRequest,
        object_id: str,
        form_url: str = "",
        extra_context: dict[str, Any] | None = None,
    ) -> HttpResponse:
        context = {**(extra_context or {}), "can_cancel": self.has_cancel_permission(request)}
        return super().change_view(request, object_id, form_url, context)

    def progress_view(self, request: HttpRequest, batch_id: int) -> HttpResponse:
        """GET: the batch's progress as JSON, polled by its page while it runs."""
        if not self.has_view_permission(request):
            return JsonResponse({"error": "You may not view retry batches."}, status=403)
        batch = RetryBatch.objects.filter(pk=batch_id).first()
        if batch is None:
            return JsonResponse({"error": f"No retry batch {batch_id}."}, status=404)
        return JsonResponse(batch_progress(batch))

    def cancel_view(self, request: HttpRequest, batch_id: int) -> HttpResponse:
        """POST: stop the batch; what it has not requeued yet stays dead."""
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        if not self.has_cancel_permission(request):
            raise PermissionDenied(
                "permission eventhub.retry_deadletter, replay_events or redrive_deliveries required"
            )
        if not RetryBatch.objects.filter(pk=batch_id).exists():
            raise Http404(f"id: no retry batch {batch_id}")
        self._cancel(request, batch_id)
        return HttpResponseRedirect(reverse("admin:eventhub_retrybatch_change", args=[batch_id]))

    def _cancel(self, request: HttpRequest, batch_id: int) -> None:
        if retry_batch_cancel(batch_id=batch_id, user_id=request.user.pk):
            batch = RetryBatch.objects.get(pk=batch_id)
            self.message_user(
                request,
                f"Cancelled retry batch {batch_id} after {batch.done} of {batch.total}.",
                messages.SUCCESS,
            )
        else:
            self.message_user(
                request, f"Retry batch {batch_id} was no longer running.", messages.WARNING
            )

    @admin.action(description="Cancel the selected retry batches", permissions=["cancel"])
    def cancel_selected(self, request: HttpRequest, queryset: QuerySet[Any]) -> None:
        for batch_id in queryset.values_list("pk", flat=True):
            self._cancel(request, batch_id)

    @admin.display(description="progress")
    def progress(self, obj: RetryBatch) -> str:
        percent = 100 if not obj.total else round(100 * obj.done / obj.total)
        return format_html(
            "<progress max='{}' value='{}'></progress> {}/{} ({}%)",
            obj.total,
            obj.done,
            obj.done,
            obj.total,
            percent,
        )


@admin.register(FaultRule)
class FaultRuleAdmin(SafeLookupsMixin, admin.ModelAdmin):
    list_display = (
        "subscriber",
        "enabled",
        "mode",
        "remaining",
        "percent",
        "latency_ms",
        "updated_at",
    )
    list_editable = ("enabled", "mode", "remaining", "percent", "latency_ms")
    list_filter = ("enabled", "mode")

    def formfield_for_dbfield(self, db_field: Any, request: HttpRequest, **kwargs: Any) -> Any:
        if db_field.name == "subscriber":
            choices = [(s.name, s.name) for s in subscribers.all_subscribers()]
            return forms.ChoiceField(choices=choices, label="subscriber")
        return super().formfield_for_dbfield(db_field, request, **kwargs)


# Django's own user and group admins, with the same lookup limits as ours.
admin.site.unregister(User)
admin.site.unregister(Group)


@admin.register(User)
class UserAdmin(SafeLookupsMixin, auth_admin.UserAdmin):
    pass


@admin.register(Group)
class GroupAdmin(SafeLookupsMixin, auth_admin.GroupAdmin):
    pass


from . import admin_pauses  # noqa: E402, F401  (the paused subscribers' admin)
