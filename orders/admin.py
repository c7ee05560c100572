from django.contrib import admin

from .models import Order, OrderLine


class OrderLineInline(admin.TabularInline):
    model = OrderLine
    extra = 0
    readonly_fields = ("product_id", "quantity", "price")
    can_delete = False


@admin.register(Order)
class OrderAdmin(admin.ModelAdmin):
    list_display = ("order_id", "user_id", "status", "total_amount", "created_at")
    list_filter = ("status",)
    search_fields = ("order_id", "user_id", "correlation_id")
    readonly_fields = (
        "order_id",
        "user_id",
        "status",
        "status_reason",
        "total_amount",
        "correlation_id",
        "created_at",
        "updated_at",
    )
    inlines = [OrderLineInline]
