"""The stack one benchmark variant measures, and what the phases read of its processes.

``running_stack`` starts daphne, one Celery worker on every queue (``bench`` included) and the
relay, in a database ``prepare_database`` migrated (and, on PostgreSQL, emptied); ``Bench`` is
what every phase gets: the ports, the children, a Redis client and ``workers_paused``. The
processes' CPU time (``cpu_seconds``) and tree (``process_tree``) are read with psutil.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil
import redis
from django.apps import apps
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connections

from eventhub.models import Delivery

from ..process_groups import Child, Stack
from ..readiness import HOST, deadline_loop, free_port, wait_for_http
from ..stack_parts import relay_argv, web_argv, worker_argv

BENCH_PRODUCT = "BENCH-1"
BENCH_STAFF = "bench-staff"
UNFINISHED = [Delivery.Status.PENDING, Delivery.Status.RUNNING, Delivery.Status.RETRYING]
DRAIN_TIMEOUT = 1800.0


def say(line: str) -> None:
    """Progress on stderr; stdout carries only the JSON."""
    print(f"bench | {line}", file=sys.stderr, flush=True)


@dataclass
class Bench:
    stack: Stack
    port: int
    web: Child
    worker: Child
    concurrency: int
    redis: Any = field(default=None)

    @property
    def origin(self) -> str:
        return f"http://{HOST}:{self.port}"

    def redis_client(self) -> Any:
        if self.redis is None:
            self.redis = redis.Redis.from_url(settings.REDIS_URL)
        return self.redis

    def wait(self, what: str, done: Callable[[], bool], timeout: float = DRAIN_TIMEOUT) -> None:
        for _ in deadline_loop(timeout, what, self.stack):
            if done():
                return

    @contextlib.contextmanager
    def workers_paused(self) -> Iterator[None]:
        """SIGSTOP the (idle) worker and its pool, so a measurement has the CPUs to itself."""
        pids = worker_pids(self.worker)
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGSTOP)
        try:
            yield
        finally:
            for pid in pids:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGCONT)


@contextlib.contextmanager
def running_stack(log: Path, concurrency: int) -> Iterator[Bench]:
    """daphne, one Celery worker on every queue (``bench`` included) and the relay."""
    stack = Stack(out=log.open("a"))
    stack.env["PYTHONUNBUFFERED"] = "1"
    try:
        port = free_port()
        web = stack.start("web", web_argv(port))
        worker = stack.start("worker", worker_argv(concurrency))
        stack.start("relay", relay_argv())
        wait_for_http(stack, port)
        yield Bench(stack=stack, port=port, web=web, worker=worker, concurrency=concurrency)
    finally:
        connections.close_all()
        stack.stop()


def prepare_database() -> dict[str, Any]:
    """Migrate; on PostgreSQL start from empty tables (only a database named *bench*)."""
    db = settings.DATABASES["default"]
    call_command("migrate", interactive=False, verbosity=0)
    if connections["default"].vendor != "sqlite":
        if "bench" not in str(db["NAME"]):
            raise CommandError(
                f"the benchmark empties its database; {db['NAME']!r} is not named *bench*"
            )
        call_command("flush", interactive=False, verbosity=0)
    product = apps.get_model("inventory", "Product")
    product.objects.update_or_create(
        product_id=BENCH_PRODUCT, defaults={"name": "Benchmark", "price": 1, "stock": 10**9}
    )
    user, _ = get_user_model().objects.get_or_create(username=BENCH_STAFF)
    user.is_staff = user.is_superuser = True
    user.set_unusable_password()
    user.save()
    connections.close_all()
    return {"vendor": connections["default"].vendor, "name": str(db["NAME"])}


def idle() -> bool:
    return not Delivery.objects.filter(status__in=UNFINISHED).exists()


# --- The processes' CPU and memory ----------------------------------------------------------


def process_tree(child: Child) -> list[psutil.Process]:
    """A child process, then its own children (a worker's pool)."""
    main = psutil.Process(child.proc.pid)
    return [main, *main.children(recursive=True)]


def cpu_seconds(child: Child) -> float:
    """User + system CPU of a child process and its own children so far."""
    total = 0.0
    for proc in process_tree(child):
        with contextlib.suppress(psutil.Error):
            times = proc.cpu_times()
            total += times.user + times.system
    return total


def worker_pids(worker: Child) -> list[int]:
    return [p.pid for p in process_tree(worker)]
