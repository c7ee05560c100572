import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "eventhub.settings")

from eventhub.otel import configure  # noqa: E402

configure("eventhub-web")
application = get_wsgi_application()
