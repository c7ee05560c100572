from django.contrib import admin

from eventhub.admin_lookups import SafeLookupsMixin

from .models import Shipment


@admin.register(Shipment)
class ShipmentAdmin(SafeLookupsMixin, admin.ModelAdmin):
    list_display = ("shipment_id", "order_id", "status", "units", "created_at")
    list_filter = ("status",)
    search_fields = ("shipment_id", "order_id")
    readonly_fields = [f.name for f in Shipment._meta.fields]

    def has_add_permission(self, request: object) -> bool:
        return False
