from django.urls import path

from . import api

urlpatterns = [
    path("api/flows/<str:correlation_id>/spans", api.flow_spans, name="flow-spans"),
]
