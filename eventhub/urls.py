"""The composition root: each app's URLs are included by name (eventhub imports no app)."""

from django.contrib import admin
from django.urls import include, path

from . import api, pages
from .metrics import views as metrics_views

urlpatterns = [
    path("", include("orders.urls")),
    path("", include("inventory.urls")),
    path("events", api.events, name="events"),
    path("healthz", api.healthz, name="healthz"),
    path("metrics", metrics_views.scrape, name="metrics"),
    path("favicon.ico", pages.favicon, name="favicon"),
    path("dashboard/", include("eventhub.dashboard.urls")),
    path("admin/", admin.site.urls),
]
