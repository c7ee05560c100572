"""The Celery application: every delivery of an event to a subscriber is one task."""

import os
from typing import Any

from celery import Celery
from celery.signals import worker_init, worker_process_init

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "eventhub.settings")

app = Celery("eventhub")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks(["eventhub.bus"])


@worker_process_init.connect
def _trace_pool_process(**_: Any) -> None:
    """Each prefork pool process gets its own tracer provider (threads do not survive fork)."""
    from .otel import configure

    configure("eventhub-worker")


@worker_init.connect
def _trace_worker(sender: Any = None, **_: Any) -> None:
    """Solo and thread pools run tasks in the main process: set tracing up there."""
    if "prefork" not in str(getattr(sender, "pool_cls", "prefork")):
        from .otel import configure

        configure("eventhub-worker")
