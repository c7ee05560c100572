"""``./bin/run`` under crashes: a killed worker is started again while the web stays up, and a
killed launcher started again on the same var dir finishes what was in flight.

The launcher runs as the user runs it (``manage.py runstack``, embedded Redis, the default
leases, relay interval and re-dispatch backstop), against the test database so that the
chaos checker can count every effect of the probe subscribers on ``order.created``.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import psutil
import pytest

from eventhub.models import Delivery, Event
from inventory.models import Product
from orders.models import Order
from tests.conftest import free_port, test_database_url, wait_until
from tests.integration.flows import UNFINISHED

from . import probe
from .checker import check
from .conftest import PLUGIN

ROOT = Path(__file__).resolve().parents[2]
ORDERS = 100
"""Enough to have orders in flight at the kill; about 1,100 deliveries, which a 2-CPU machine
whose cores are slow (a no-op Celery task at 4.5 ms of CPU) finishes in 25-35 s on SQLite, well
inside ``FINISH_SECONDS``. (200 took 60 s and more on such a machine under CI's load.)"""
CLIENTS = 8
START_SECONDS = 90.0
FINISH_SECONDS = 60.0
ORDER = {"userId": "crash", "items": [{"productId": "PROD-003", "quantity": 1}]}


class Launcher:
    """One ``manage.py runstack`` subprocess."""

    def __init__(self, env: dict[str, str], port: int, log: Path) -> None:
        self.port = port
        self.base = f"http://127.0.0.1:{port}"
        self.log = log
        with log.open("ab") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "manage.py", "runstack", "--port", str(port)],
                cwd=ROOT,
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        self.seen: set[psutil.Process] = set()

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def descendants(self) -> list[psutil.Process]:
        with contextlib.suppress(psutil.NoSuchProcess):
            self.seen.update(psutil.Process(self.proc.pid).children(recursive=True))
        return [p for p in self.seen if _alive(p)]

    def child(self, part: str) -> psutil.Process | None:
        """The direct child of runstack whose command line has ``part``."""
        with contextlib.suppress(psutil.NoSuchProcess):
            for process in psutil.Process(self.proc.pid).children():
                with contextlib.suppress(psutil.Error):
                    if part in " ".join(process.cmdline()) and _alive(process):
                        return process
        return None

    def worker_ready(self) -> psutil.Process | None:
        """The Celery main process once its pool is up (2 processes)."""
        worker = self.child("celery")
        with contextlib.suppress(psutil.Error):
            if worker is not None and len(worker.children()) >= 2:
                return worker
        return None

    def post_order(self) -> int:
        request = urllib.request.Request(
            f"{self.base}/orders",
            data=json.dumps(ORDER).encode(),
            method="POST",
            headers={"Content-Type": "application/json"},
        )
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                return response.status
        except urllib.error.HTTPError as exc:
            return exc.code

    def answers(self) -> bool:
        assert self.proc.poll() is None, f"runstack exited early:\n{self.output()[-5000:]}"
        try:
            with urllib.request.urlopen(f"{self.base}/inventory", timeout=5) as response:
                return response.status == 200
        except OSError:
            return False


def _alive(process: psutil.Process) -> bool:
    try:
        return process.is_running() and process.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


@pytest.fixture
def launch(probe_env: None, tmp_path: Path) -> Iterator[Callable[[int], Launcher]]:
    """Start runstack on a port, with one var dir for every launch of the test."""
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in {"REDIS_URL", "CELERY_BROKER_URL", "CHANNEL_LAYER_URL"}
    }
    env.update(
        PLUGIN,
        DATABASE_URL=test_database_url(),
        EVENTHUB_VAR_DIR=str(tmp_path / "var"),
        PYTHONUNBUFFERED="1",
        LOG_LEVEL="WARNING",
    )
    started: list[Launcher] = []

    def start(port: int) -> Launcher:
        launcher = Launcher(env, port, tmp_path / f"runstack-{len(started)}.log")
        started.append(launcher)
        wait_until(launcher.answers, timeout=START_SECONDS, interval=0.2, message="runstack up")
        wait_until(launcher.worker_ready, timeout=START_SECONDS, message="the worker's pool")
        return launcher

    yield start
    for launcher in started:
        left = launcher.descendants()
        if launcher.proc.poll() is None:
            launcher.proc.send_signal(signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                launcher.proc.wait(30)
        if launcher.proc.poll() is None:
            launcher.proc.kill()
            launcher.proc.wait()
        for process in left:
            with contextlib.suppress(psutil.Error):
                process.kill()


def place_orders_and(launcher: Launcher, after: int, action: Callable[[], None]) -> list[int | str]:
    """POST ``ORDERS`` orders from ``CLIENTS`` threads; run ``action`` once ``after`` are in."""
    placed = 0
    lock = threading.Lock()
    fired = threading.Event()

    def one(_: int) -> int | str:
        nonlocal placed
        try:
            status = launcher.post_order()
        except (OSError, ConnectionError) as exc:
            status = f"{type(exc).__name__}: {exc}"
        with lock:
            placed += 1
            fire = placed == after
        if fire:
            action()
            fired.set()
        return status

    with ThreadPoolExecutor(CLIENTS) as pool:
        results = list(pool.map(one, range(ORDERS)))
    assert fired.is_set()
    return results


def finished_within(seconds: float, since: float, what: str) -> None:
    """Every order terminal and every delivery finished within ``seconds`` of ``since``."""

    def done() -> bool:
        return (
            not Order.objects.filter(status=Order.Status.PENDING).exists()
            and not Delivery.objects.filter(status__in=UNFINISHED).exists()
        )

    wait_until(
        done,
        timeout=max(0.0, since + seconds - time.monotonic()),
        interval=0.25,
        message=f"every order and delivery to finish within {seconds:.0f} s",
    )
    print(f"every order and delivery finished {time.monotonic() - since:.1f} s after {what}")


def assert_nothing_lost_or_doubled() -> None:
    created = [
        str(e)
        for e in Event.objects.filter(event_type="order.created").values_list("event_id", flat=True)
    ]
    once = check(created, probe.ONCE)
    assert (once.lost, once.duplicated) == ([], {})
    assert check(created, probe.AT_LEAST_ONCE).lost == []
    # Inventory applied each reservation once: what is gone from stock is what was confirmed.
    confirmed = Order.objects.filter(status=Order.Status.CONFIRMED).count()
    assert Product.objects.get(pk="PROD-003").stock == 200 - confirmed
    assert Order.objects.count() == len(created)


@pytest.mark.chaos
def test_a_killed_worker_is_restarted_and_every_order_in_flight_finishes_once(launch):
    launcher = launch(free_port())
    web = launcher.child("daphne")
    assert web is not None
    worker = launcher.worker_ready()
    assert worker is not None
    killed_at = 0.0

    def kill_worker() -> None:
        nonlocal killed_at
        worker.send_signal(signal.SIGKILL)
        killed_at = time.monotonic()

    statuses = place_orders_and(launcher, after=ORDERS // 4, action=kill_worker)

    assert statuses == [201] * ORDERS  # the web stayed up: no client saw an error
    assert launcher.proc.poll() is None
    assert launcher.child("daphne") == web
    wait_until(
        lambda: "runstack: worker exited with -9; restarting in 1 s" in launcher.output(),
        timeout=10,
        message="runstack to log the worker's restart",
    )
    new_worker = wait_until(launcher.worker_ready, timeout=START_SECONDS, message="a new worker")
    assert new_worker.pid != worker.pid
    print(f"new worker's pool up {time.monotonic() - killed_at:.1f} s after the kill")
    finished_within(FINISH_SECONDS, since=killed_at, what="the kill")
    assert Order.objects.count() == ORDERS
    assert_nothing_lost_or_doubled()


@pytest.mark.e2e
def test_runstack_killed_and_started_again_finishes_every_order_once(launch):
    port = free_port()
    first = launch(port)

    def kill_runstack() -> None:
        first.descendants()  # remember them, to check that none outlives its launcher
        first.proc.send_signal(signal.SIGKILL)

    statuses = place_orders_and(first, after=ORDERS, action=kill_runstack)
    first.proc.wait(10)
    assert statuses == [201] * ORDERS
    wait_until(
        lambda: not first.descendants(), timeout=10, message="every process of runstack gone"
    )
    pending = Order.objects.filter(status=Order.Status.PENDING).count()
    running = Delivery.objects.filter(status=Delivery.Status.RUNNING).count()
    print(f"runstack killed with {pending} orders pending, {running} deliveries running")
    assert pending > 0  # the crash hit orders in flight

    restarted_at = time.monotonic()
    second = launch(port)
    print(f"runstack serving again {time.monotonic() - restarted_at:.1f} s after its start")
    finished_within(FINISH_SECONDS, since=restarted_at, what="the restart")
    assert second.proc.poll() is None
    assert_nothing_lost_or_doubled()
