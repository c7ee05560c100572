from django.contrib import admin

from eventhub.admin_lookups import SafeLookupsMixin

from .models import Notification, OrderStatusView


@admin.register(Notification)
class NotificationAdmin(SafeLookupsMixin, admin.ModelAdmin):
    list_display = ("kind", "order_id", "recipient", "subject", "sent_at")
    list_filter = ("kind",)
    search_fields = ("order_id", "recipient", "event_id")
    readonly_fields = [f.name for f in Notification._meta.fields]


@admin.register(OrderStatusView)
class OrderStatusViewAdmin(SafeLookupsMixin, admin.ModelAdmin):
    list_display = ("order_id", "status", "previous_status", "sequence", "updated_at")
    list_filter = ("status",)
    search_fields = ("order_id", "user_id")
    readonly_fields = [f.name for f in OrderStatusView._meta.fields]
