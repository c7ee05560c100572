"""A PostgreSQL connection pool for the web process (Django's ``"pool"`` option, psycopg_pool).

daphne runs every sync view in a thread of its own, and Django's advice for ASGI is
``CONN_MAX_AGE = 0``: so without a pool every request opened a PostgreSQL connection (a new
server backend: about 4.5 ms on the benchmark's machine, as much as the rest of a
``POST /orders``'s database work) and closed it. With the pool, a request borrows a connection
and gives it back when Django would have closed it.

Only the web process uses it (``asgi.py``/``wsgi.py`` call ``use_pool`` before Django sets up):
a Celery pool process runs one task at a time and keeps one connection
(``WORKER_CONN_MAX_AGE``), and so does the relay. SQLite has no pool.
``EVENTHUB_WEB_DB_POOL_SIZE`` (default 8) is the most connections one web process holds;
0 turns the pool off.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings


def use_pool(db: dict[str, Any] | None = None, size: int | None = None) -> bool:
    """Give this process's PostgreSQL connections a pool; False where none applies.

    ``db``: the settings of a database (default: ``DATABASES["default"]``), changed in place;
    ``size``: default ``WEB_DB_POOL_SIZE``."""
    size = int(settings.WEB_DB_POOL_SIZE if size is None else size)
    db = settings.DATABASES["default"] if db is None else db
    if size <= 0 or db["ENGINE"] != "django.db.backends.postgresql":
        return False
    # A pooled connection goes back to the pool where Django would close it: the pool
    # needs CONN_MAX_AGE 0 (Django refuses persistent connections with a pool).
    db["CONN_MAX_AGE"] = 0
    db.setdefault("OPTIONS", {})["pool"] = {
        "min_size": 1,
        "max_size": size,
        "timeout": 30.0,  # a request waits this long for a free connection, then fails
    }
    return True
