from django.apps import AppConfig
from django.utils.module_loading import autodiscover_modules


class EventhubConfig(AppConfig):
    name = "eventhub"
    verbose_name = "Event hub"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # Event declarations and subscribers live in each app's events.py and handlers.py;
        # importing them fills the registries. Eventhub never names a business app.
        from .bus import builtin_events  # noqa: F401

        autodiscover_modules("events")
        autodiscover_modules("handlers")
        from django.conf import settings
        from django.utils.module_loading import import_module

        for plugin in settings.EVENTHUB.get("PLUGINS", []):
            import_module(plugin.strip()).install()
