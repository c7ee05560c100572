"""The benchmark's parts: a plugin with a no-op subscriber and a no-op Celery task, the
statistics helpers, a small websocket client, and the phases ``manage.py eventhub_bench``
runs. Nothing here is imported by the running system unless ``EVENTHUB_PLUGINS`` names
``eventhub.devtools.bench.plugin``.
"""
