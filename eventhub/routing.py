"""Websocket routes, composed like urls.py: each app's ``routing`` module by name.

Every websocket is origin-checked (ALLOWED_HOSTS, then same origin in each consumer) and
carries the Django session and user (AuthMiddlewareStack). Any other path is refused before
the handshake completes (daphne answers 403), where URLRouter alone would raise "No route
found" (a 500 and a traceback in the log).
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

from channels.auth import AuthMiddlewareStack
from channels.generic.websocket import AsyncWebsocketConsumer
from channels.routing import URLRouter
from channels.security.websocket import AllowedHostsOriginValidator
from django.urls import re_path

from .nul_guard import WebsocketNulGuard

ROUTE_MODULES = ("eventhub.dashboard.routing", "orders.routing")

websocket_urlpatterns: list[Any] = [
    route for name in ROUTE_MODULES for route in import_module(name).websocket_urlpatterns
]


class UnknownPathConsumer(AsyncWebsocketConsumer):
    """Closes before accepting: the handshake is refused (HTTP 403 from daphne)."""

    async def connect(self) -> None:
        await self.close()


def websocket_application() -> Any:
    routes = [*websocket_urlpatterns, re_path(r"", UnknownPathConsumer.as_asgi())]
    return WebsocketNulGuard(AllowedHostsOriginValidator(AuthMiddlewareStack(URLRouter(routes))))
