import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "eventhub.settings")

from eventhub.db_pool import use_pool  # noqa: E402
from eventhub.otel import configure  # noqa: E402

use_pool()  # before the first connection: PostgreSQL connections come from a pool
configure("eventhub-web")
application = get_wsgi_application()
