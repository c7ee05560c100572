"""The benchmark's URLs: every URL of the system, plus the naive peer's order view.

Loaded only when ``EVENTHUB_ROOT_URLCONF=eventhub.devtools.bench.urls`` (``bin/bench`` sets it).
"""

from django.urls import include, path

from .naive import naive_order_place

urlpatterns = [
    path("bench/naive/orders", naive_order_place, name="bench-naive-orders"),
    path("", include("eventhub.urls")),
]
