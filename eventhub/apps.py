from importlib import import_module

from django.apps import AppConfig
from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.signals import user_logged_out
from django.db.models.signals import post_delete, post_save
from django.utils.module_loading import autodiscover_modules

from .bus import builtin_events  # noqa: F401  (declares the bus's own events)
from .bus.signals import DomainSignal
from .dashboard import access


class EventhubConfig(AppConfig):
    name = "eventhub"
    verbose_name = "Event hub"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # Imported here because they import the models, which Django loads after this module:
        # the outbox, which every domain signal forwards to, and the bus's Celery tasks,
        # registered in every process (not only in a worker: dispatch sends them by name).
        from .bus import outbox, tasks  # noqa: F401

        DomainSignal.forward_to(outbox.forward)
        # Event declarations and subscribers live in each app's events.py and handlers.py;
        # importing them fills the registries. Eventhub never names a business app.
        autodiscover_modules("events")
        autodiscover_modules("handlers")
        for plugin in settings.EVENTHUB.get("PLUGINS", []):
            import_module(plugin.strip()).install()
        self.connect_dashboard_access()

    def connect_dashboard_access(self) -> None:
        """Revocations tell the dashboard's open sockets (eventhub/dashboard/access.py)."""
        user = get_user_model()
        post_save.connect(access.user_changed, sender=user, dispatch_uid="dashboard-access-save")
        post_delete.connect(access.user_changed, sender=user, dispatch_uid="dashboard-access-del")
        user_logged_out.connect(access.logged_out, dispatch_uid="dashboard-access-logout")
