from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest

from eventhub.admin_lookups import SafeLookupsMixin

from .models import Order, OrderCount, OrderLine, SagaStep
from .selectors import order_saga


class OrderLineInline(admin.TabularInline):
    model = OrderLine
    extra = 0
    readonly_fields = ("product_id", "quantity", "price")
    can_delete = False

    def has_add_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


class SagaStepInline(admin.TabularInline):
    """The saga's steps in order, each with when it was done, failed and compensated."""

    model = SagaStep
    extra = 0
    fields = ("position", "name", "step_state", "done_at", "failed_at", "compensated_at", "detail")
    readonly_fields = fields
    can_delete = False
    verbose_name = "saga step"

    def has_add_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    @admin.display(description="state")
    def step_state(self, step: SagaStep) -> str:
        return step.state


@admin.register(Order)
class OrderAdmin(SafeLookupsMixin, admin.ModelAdmin):
    list_display = ("order_id", "user_id", "status", "saga_status", "total_amount", "created_at")
    list_filter = ("status",)
    search_fields = ("order_id", "user_id", "correlation_id")
    readonly_fields = (
        "order_id",
        "user_id",
        "status",
        "status_reason",
        "saga_status",
        "total_amount",
        "shipping_address",
        "correlation_id",
        "created_at",
        "updated_at",
    )
    inlines = [OrderLineInline, SagaStepInline]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Order]:
        return super().get_queryset(request).prefetch_related("saga_steps")

    @admin.display(description="saga")
    def saga_status(self, order: Order) -> str:
        return order_saga(order).status


@admin.register(OrderCount)
class OrderCountAdmin(SafeLookupsMixin, admin.ModelAdmin):
    list_display = ("day", "outcome", "count")
    list_filter = ("outcome",)
    readonly_fields = ("day", "outcome", "count")
