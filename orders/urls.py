from django.urls import path

from . import api, views

urlpatterns = [
    path("orders", api.orders, name="orders"),
    path("orders/<str:order_id>", api.order_detail, name="order-detail"),
    # The shop page and its session-bound order form.
    path("", views.shop, name="shop"),
    path("shop/orders", views.shop_order_place, name="shop-order-place"),
]
