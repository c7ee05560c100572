"""The Celery application: every delivery of an event to a subscriber is one task."""

import os
from typing import Any

from celery import Celery
from celery.signals import task_postrun, task_prerun, worker_init, worker_process_init
from django.conf import settings
from django.db import close_old_connections, connections

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "eventhub.settings")

app = Celery("eventhub")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks(["eventhub.bus"])


def _reuse_connections() -> None:
    """Worker processes keep their database connection for WORKER_CONN_MAX_AGE seconds."""
    for conn in connections.all():
        conn.settings_dict["CONN_MAX_AGE"] = settings.WORKER_CONN_MAX_AGE


@worker_process_init.connect
def _trace_pool_process(**_: Any) -> None:
    """Each prefork pool process gets its own tracer provider (threads do not survive fork)."""
    from .otel import configure  # the OTel SDK (~0.13 s): for processes that trace only

    configure("eventhub-worker")
    _reuse_connections()


@task_prerun.connect
@task_postrun.connect
def _close_old_connections(sender: Any = None, **_: Any) -> None:
    """As Django does around a request: drop a connection that is too old or broken.

    Not for eager calls, which run inside their caller's transaction.
    """
    if not getattr(getattr(sender, "request", None), "is_eager", False):
        close_old_connections()


@worker_init.connect
def _trace_worker(sender: Any = None, **_: Any) -> None:
    """Solo and thread pools run tasks in the main process: set tracing up there."""
    if "prefork" not in str(getattr(sender, "pool_cls", "prefork")):
        from .otel import configure  # the OTel SDK (~0.13 s): for processes that trace only

        configure("eventhub-worker")
        _reuse_connections()
