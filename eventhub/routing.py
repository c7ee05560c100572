"""Websocket routes, composed like urls.py: each app's ``routing`` module by name.

Every websocket is origin-checked (ALLOWED_HOSTS, then same origin in each consumer) and
carries the Django session and user (AuthMiddlewareStack).
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

from channels.auth import AuthMiddlewareStack
from channels.routing import URLRouter
from channels.security.websocket import AllowedHostsOriginValidator

ROUTE_MODULES = ("eventhub.dashboard.routing", "orders.routing")

websocket_urlpatterns: list[Any] = [
    route for name in ROUTE_MODULES for route in import_module(name).websocket_urlpatterns
]


def websocket_application() -> Any:
    return AllowedHostsOriginValidator(AuthMiddlewareStack(URLRouter(websocket_urlpatterns)))
