"""The admin's paused subscribers: pause one (with a reason), resume the selected ones.

Both go through ``bus.pauses`` as the commands and the dashboard do, with the
``eventhub.pause_subscriber`` permission, and each writes its own admin log entry (who,
when, reason), so Django's generic "Added." entry is left out.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from .admin_lookups import SafeLookupsMixin
from .bus import subscribers
from .bus.pauses import PauseError, held_count, subscriber_pause, subscriber_resume
from .bus.reasons import validate_reason
from .models import SubscriberPause


class PauseForm(forms.ModelForm):
    subscriber = forms.ChoiceField(choices=())
    reason = forms.CharField(
        required=False,
        max_length=500,
        widget=forms.Textarea(attrs={"rows": 2}),
        validators=[validate_reason],
    )

    class Meta:
        model = SubscriberPause
        fields = ("subscriber", "reason")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        paused = set(SubscriberPause.objects.values_list("subscriber", flat=True))
        self.fields["subscriber"].choices = [
            (s.name, s.name) for s in subscribers.all_subscribers() if s.name not in paused
        ]

    def validate_unique(self) -> None:
        """``bus.pauses`` decides (a subscriber paused meanwhile is reported, not an error)."""


@admin.register(SubscriberPause)
class SubscriberPauseAdmin(SafeLookupsMixin, admin.ModelAdmin):
    form = PauseForm
    list_display = (
        "subscriber",
        "state",
        "held",
        "paused_at",
        "paused_by",
        "reason",
        "resumed_at",
        "rate_per_second",
    )
    actions = ["resume_selected"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("eventhub.pause_subscriber")

    def has_pause_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("eventhub.pause_subscriber")

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return super().has_view_permission(request, obj) or self.has_pause_permission(request)

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        name = form.cleaned_data["subscriber"]
        try:
            outcome = subscriber_pause(
                name=name, user_id=request.user.pk, reason=form.cleaned_data["reason"]
            )
        except PauseError as exc:  # the form's choices made this unlikely; say it anyway
            self.message_user(request, str(exc), messages.ERROR)
            return
        obj.pk = outcome.pause.pk
        self.message_user(
            request,
            f"Paused {name}: {outcome.held} deliveries held; new ones are held until resumed.",
            messages.SUCCESS,
        )

    def render_change_form(self, request: HttpRequest, context: dict[str, Any], *args: Any,
                           **kwargs: Any) -> Any:  # fmt: skip
        """A refused pause (a reason that is not one line of text) answers 400, by field."""
        response = super().render_change_form(request, context, *args, **kwargs)
        form = context["adminform"].form
        if form.is_bound and form.errors:
            response.status_code = 400
        return response

    def log_addition(self, request: HttpRequest, obj: Any, message: Any) -> Any:
        return None  # bus.pauses wrote the entry, with the reason

    def response_add(self, request: HttpRequest, obj: Any, post_url_continue: Any = None) -> Any:
        return self.response_post_save_add(request, obj)

    def message_user(self, request: HttpRequest, message: Any, *args: Any, **kwargs: Any) -> None:
        if str(message).startswith("The subscriber pause"):
            return  # Django's generic "was added successfully" (ours says what happened)
        super().message_user(request, message, *args, **kwargs)

    @admin.display(description="held")
    def held(self, obj: SubscriberPause) -> int:
        return held_count(obj.subscriber)

    @admin.action(description="Resume the selected subscribers", permissions=["pause"])
    def resume_selected(self, request: HttpRequest, queryset: QuerySet[Any]) -> None:
        for name in queryset.values_list("subscriber", flat=True):
            try:
                outcome = subscriber_resume(name=name, user_id=request.user.pk)
            except PauseError as exc:
                self.message_user(request, str(exc), messages.WARNING)
                continue
            self.message_user(
                request,
                f"Resumed {name}: {outcome.held} held deliveries are sent in recorded order "
                f"at {outcome.pause.rate_per_second}/s.",
                messages.SUCCESS,
            )
