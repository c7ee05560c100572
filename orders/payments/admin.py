from django.contrib import admin

from eventhub.admin_lookups import SafeLookupsMixin

from .models import Payment


@admin.register(Payment)
class PaymentAdmin(SafeLookupsMixin, admin.ModelAdmin):
    list_display = ("payment_id", "order_id", "amount", "status", "created_at", "refunded_at")
    list_filter = ("status",)
    search_fields = ("payment_id", "order_id")
    readonly_fields = [f.name for f in Payment._meta.fields]

    def has_add_permission(self, request: object) -> bool:
        return False
