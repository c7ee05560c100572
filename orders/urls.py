from django.urls import path

from . import api

urlpatterns = [
    path("orders", api.orders, name="orders"),
    path("orders/<str:order_id>", api.order_detail, name="order-detail"),
]
