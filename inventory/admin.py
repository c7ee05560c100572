from django.contrib import admin

from .models import Product, Reservation


@admin.register(Product)
class ProductAdmin(admin.ModelAdmin):
    list_display = ("product_id", "name", "price", "stock")
    search_fields = ("product_id", "name")


@admin.register(Reservation)
class ReservationAdmin(admin.ModelAdmin):
    list_display = ("order_id", "product", "quantity", "created_at", "released_at")
    search_fields = ("order_id",)
    list_filter = ("product",)
