"""The benchmark's parts: a plugin with a no-op subscriber and a no-op Celery task, the naive
peer, the phases one variant runs, the matrix of variants ``manage.py eventhub_bench`` runs,
the targets and the statistics helpers. Nothing here is imported by the running system unless
``EVENTHUB_PLUGINS`` names ``eventhub.devtools.bench.plugin``.
"""
