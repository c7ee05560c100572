from django.urls import path

from . import api

urlpatterns = [path("inventory", api.inventory, name="inventory")]
