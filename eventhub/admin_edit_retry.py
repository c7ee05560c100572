"""The dead letter's "Edit & retry" pages in the admin: edit the payload as JSON, preview the
diff against the original, confirm with a reason (see bus/corrections.py for what happens).

A mixin of DeadLetterAdmin, kept apart from the list and retry/discard views. Statuses:
403 without ``eventhub.edit_deadletter``, 400 naming the field for a bad edit, 409 when the
dead letter changed since the editor opened it; nothing is written in any of those.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html

from .bus.corrections import (
    CorrectionRefused,
    DeadLetterChanged,
    correction_base,
    correction_check,
    dead_letter_version,
    payload_diff,
    payload_parse,
    pretty,
)
from .bus.reasons import validate_reason
from .dead_letter_actions import edit_and_retry_requested
from .models import Delivery

EDIT_PERMISSION = "eventhub.edit_deadletter"


class EditRetryForm(forms.Form):
    data = forms.CharField(
        label="Payload (JSON)",
        widget=forms.Textarea(attrs={"rows": 20, "cols": 80, "spellcheck": "false"}),
        strip=False,
    )
    # Required in the browser (the HTML attribute says so before Preview is pressed); not
    # in the form, so that a missing reason still reaches the view's 400 naming the field.
    reason = forms.CharField(
        label="Why (kept in the admin log)",
        widget=forms.Textarea(attrs={"rows": 2, "cols": 80, "required": True}),
        max_length=2000,
        required=False,
        validators=[validate_reason],
    )
    version = forms.CharField(widget=forms.HiddenInput)


class EditAndRetryMixin:
    """URLs and views of the edit & retry pages, for DeadLetterAdmin."""

    admin_site: Any
    model: Any

    def has_edit_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm(EDIT_PERMISSION)

    def edit_retry_urls(self) -> list[Any]:
        view = self.admin_site.admin_view
        return [
            path(
                "<int:pk>/edit/", view(self.edit_retry_view), name="eventhub_deadletter_edit_retry"
            ),
        ]

    def _edit_page(
        self,
        request: HttpRequest,
        delivery: Delivery,
        form: EditRetryForm,
        *,
        diff: str | None = None,
        error: str = "",
        status: int = 200,
    ) -> HttpResponse:
        return TemplateResponse(
            request,
            "admin/eventhub/deadletter/edit_retry.html",
            {
                **self.admin_site.each_context(request),
                "title": f"Edit & retry dead letter {delivery.pk}",
                "opts": self.model._meta,
                "delivery": delivery,
                "original_json": pretty(correction_base(delivery.event)),
                "form": form,
                "diff": diff,
                "error": error,
            },
            status=status,
        )

    def edit_retry_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        """GET: the editor. POST ``step=preview``: the diff to confirm. POST ``step=confirm``:
        the correction is recorded and sent to this dead letter's subscriber only."""
        if not self.has_edit_permission(request):
            raise PermissionDenied(f"permission {EDIT_PERMISSION} required")
        delivery = Delivery.objects.select_related("event").filter(pk=pk).first()
        if delivery is None:
            raise Http404(f"id: no delivery {pk}")
        if request.method == "GET":
            if delivery.status != Delivery.Status.DEAD:
                return self._edit_page(
                    request,
                    delivery,
                    EditRetryForm(),
                    error=f"delivery {pk} is {delivery.status}, not dead: nothing to edit.",
                    status=409,
                )
            initial = {
                "data": pretty(correction_base(delivery.event)),
                "version": dead_letter_version(delivery),
            }
            return self._edit_page(request, delivery, EditRetryForm(initial=initial))
        if request.method != "POST":
            return HttpResponse(status=405, headers={"Allow": "GET, POST"})
        form = EditRetryForm(request.POST)
        if not form.is_valid():
            error = "; ".join(f"{name}: {' '.join(e)}" for name, e in form.errors.items())
            return self._edit_page(request, delivery, form, error=error, status=400)
        text, version = form.cleaned_data["data"], form.cleaned_data["version"]
        reason = form.cleaned_data["reason"]
        try:
            data = payload_parse(text)
            if request.POST.get("step") != "confirm":
                return self._preview(request, delivery, form, data, version, reason)
            original, correction = edit_and_retry_requested(
                user_id=request.user.pk,
                username=request.user.get_username(),
                delivery_id=delivery.pk,
                data=data,
                version=version,
                reason=reason,
            )
        except CorrectionRefused as exc:
            return self._edit_page(request, delivery, form, error=str(exc), status=400)
        except DeadLetterChanged as exc:
            return self._edit_page(request, delivery, form, error=str(exc), status=409)
        url = reverse("admin:eventhub_event_change", args=[correction.pk])
        self.message_user(  # type: ignore[attr-defined]
            request,
            format_html(
                "Dead letter {} resolved by <a href='{}'>correction event {}</a>, "
                "sent to {} only.",
                original.pk, url, correction.event_id, original.subscriber,
            ),
            messages.SUCCESS,
        )  # fmt: skip
        if request.user.has_perm("eventhub.view_delivery"):
            return HttpResponseRedirect(
                reverse("admin:eventhub_delivery_change", args=[original.pk])
            )
        return HttpResponseRedirect(reverse("admin:eventhub_deadletter_changelist"))

    def _preview(
        self,
        request: HttpRequest,
        delivery: Delivery,
        form: EditRetryForm,
        data: Any,
        version: str,
        reason: str,
    ) -> HttpResponse:
        """The diff, once the edit is valid and the dead letter still as the editor saw it."""
        if delivery.status != Delivery.Status.DEAD or dead_letter_version(delivery) != version:
            raise DeadLetterChanged(
                f"delivery {delivery.pk} changed since the editor opened it "
                f"(it is {delivery.status} now): reopen it to see it as it is"
            )
        correction_check(delivery.event, data)
        if not reason.strip():
            raise CorrectionRefused("reason: a reason is required to edit and retry a dead letter")
        diff = payload_diff(correction_base(delivery.event), data)
        if not diff:
            raise CorrectionRefused("data: unchanged; use Retry to send the same event again")
        return self._edit_page(request, delivery, form, diff=diff)
