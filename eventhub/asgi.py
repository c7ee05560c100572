"""ASGI entry point served by daphne: HTTP through Django, websockets through Channels."""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "eventhub.settings")

from eventhub.db_pool import use_pool  # noqa: E402
from eventhub.otel import configure  # noqa: E402

use_pool()  # before the first connection: PostgreSQL connections come from a pool
configure("eventhub-web")
django_asgi_app = get_asgi_application()

from channels.routing import ProtocolTypeRouter  # noqa: E402
from django.conf import settings  # noqa: E402

if settings.SERVE_STATIC:
    from django.contrib.staticfiles.handlers import ASGIStaticFilesHandler

    django_asgi_app = ASGIStaticFilesHandler(django_asgi_app)

from eventhub import daphne_body_limit  # noqa: E402
from eventhub.body_limit import BodyLimitMiddleware  # noqa: E402
from eventhub.routing import websocket_application  # noqa: E402

daphne_body_limit.install()  # daphne buffers a whole body before calling the app
application = ProtocolTypeRouter(
    {"http": BodyLimitMiddleware(django_asgi_app), "websocket": websocket_application()}
)
