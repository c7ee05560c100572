from django.urls import path

from . import api, views

urlpatterns = [
    path("", views.dashboard, name="dashboard"),
    path("api/flows/<str:correlation_id>/spans", api.flow_spans, name="flow-spans"),
    path("api/faults", api.faults, name="faults"),
]
