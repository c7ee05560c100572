from django.urls import path

from . import api, replay_api, views

urlpatterns = [
    path("", views.dashboard, name="dashboard"),
    path("api/flows/<str:correlation_id>/spans", api.flow_spans, name="flow-spans"),
    path("api/faults", api.faults, name="faults"),
    path("api/pauses", api.pauses, name="pauses"),
    path("api/flows/<str:correlation_id>/replay", replay_api.flow_replay, name="flow-replay"),
    path(
        "api/dead-letters/<int:delivery_id>/retry",
        api.dead_letter_retry,
        name="dead-letter-retry",
    ),
    path(
        "api/dead-letters/<int:delivery_id>/discard",
        api.dead_letter_discard,
        name="dead-letter-discard",
    ),
]
