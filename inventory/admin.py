from django.contrib import admin

from eventhub.admin_lookups import SafeLookupsMixin

from .models import Product, Reservation


@admin.register(Product)
class ProductAdmin(SafeLookupsMixin, admin.ModelAdmin):
    list_display = ("product_id", "name", "price", "stock")
    search_fields = ("product_id", "name")


@admin.register(Reservation)
class ReservationAdmin(SafeLookupsMixin, admin.ModelAdmin):
    list_display = ("order_id", "product", "quantity", "created_at", "released_at")
    search_fields = ("order_id",)
    list_filter = ("product",)
