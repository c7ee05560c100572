"""Eventhub: the Django project, the event bus, tracing and the dashboard."""

from .celery import app as celery_app

__all__ = ("celery_app",)
