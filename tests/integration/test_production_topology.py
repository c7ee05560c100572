"""The production topology of the Procfile, started by honcho as an operator would.

PostgreSQL, RabbitMQ as the broker, two daphne processes, a worker per queue group (the saga's
queues and the notifications queue) and the relay. An order placed through one web process
shows up live on a staff dashboard websocket of the other (through the shared channel layer:
the second process never resyncs on its own) and completes. Deliveries sent while no worker
is up wait in RabbitMQ (the publisher declares their queues), and the message of a pool
process killed mid-delivery comes back at once (late acks, reject on worker lost).
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import socket
import subprocess
import urllib.request
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest
from celery import Celery
from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import connection
from django.test import Client

from eventhub.devtools.websocket_client import connect
from eventhub.models import Attempt, Delivery, FaultRule
from inventory.models import Reservation
from orders.models import Order, SagaStep
from tests.conftest import ROOT, free_port, http_json, wait_until
from tests.integration.flows import SEED_ORDER, wait_for_flow

pytestmark = [
    pytest.mark.integration,
    pytest.mark.topology,
    pytest.mark.django_db(transaction=True),
]

RABBITMQ = ("127.0.0.1", 5672)
SLOW = "inventory.reserve_stock"


def _answers(address: tuple[str, int]) -> bool:
    try:
        with socket.create_connection(address, timeout=1):
            return True
    except OSError:
        return False


def _rabbitmqctl(*args: str) -> None:
    subprocess.run(["rabbitmqctl", "-q", *args], check=True, capture_output=True, timeout=60)


@pytest.fixture
def rabbitmq_url() -> Iterator[str]:
    """A vhost of its own on the machine's RabbitMQ, so no other run shares its queues."""
    if connection.vendor != "postgresql":
        pytest.skip("the production topology runs on PostgreSQL (DATABASE_URL=postgres://...)")
    if not _answers(RABBITMQ):
        message = "RabbitMQ is not answering on 127.0.0.1:5672 (.ci/run starts it)"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    vhost = f"eventhub-test-{uuid.uuid4().hex[:8]}"
    _rabbitmqctl("add_vhost", vhost)
    try:
        _rabbitmqctl("set_permissions", "-p", vhost, "guest", ".*", ".*", ".*")
        yield f"amqp://guest:guest@127.0.0.1:5672/{vhost}"
    finally:
        _rabbitmqctl("delete_vhost", vhost)


def _two_free_ports() -> int:
    """A port P with P + 1 free too: honcho gives web.1 $PORT = P, web.2 P + 1."""

    def free(port: int) -> bool:
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                return False
            return True

    return wait_until(lambda: (p := free_port()) < 65000 and free(p + 1) and p, timeout=5)


class Honcho:
    """``honcho start -c web=2`` of the Procfile: all its processes, or those named."""

    def __init__(self, env: dict[str, str], log_path: Path, processes: tuple[str, ...] = ()):
        self.port = _two_free_ports()
        self.log_path = log_path
        self.process = subprocess.Popen(
            [str(ROOT / ".venv/bin/honcho"), "start", "-f", str(ROOT / "Procfile"),
             "-d", str(ROOT), "-p", str(self.port), "-c", "web=2", "--no-colour", *processes],
            cwd=ROOT, env=env, stdout=log_path.open("ab"), stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip

    def log(self, tail: int = 6000) -> str:
        """The end of honcho's output (all of it with ``tail=0``)."""
        return self.log_path.read_text(errors="replace")[-tail:]

    def running(self) -> bool:
        assert self.process.poll() is None, self.log()
        return True

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(10)


def _processes_of(stack: Honcho, group: str) -> set[int]:
    """The pids of the Procfile's worker ``group`` (saga, notifications), its pool included."""
    mark = f"-n {group}-"
    return {
        process.pid
        for process in psutil.Process(stack.process.pid).children(recursive=True)
        if any(mark in " ".join(p.cmdline()) for p in [process, *process.parents()])
    }


def _web_answers(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/inventory", timeout=1) as response:
            return response.status == 200
    except OSError:
        return False


def _wait_for_web(stack: Honcho) -> None:
    for port in (stack.port, stack.port + 1):
        wait_until(
            lambda port=port: stack.running() and _web_answers(port),
            timeout=90,
            interval=0.2,
            message=f"daphne on {port}",
        )


@pytest.fixture
def topology_env(worker_env: dict[str, str], rabbitmq_url: str) -> dict[str, str]:
    return {
        **worker_env,
        "CELERY_BROKER_URL": rabbitmq_url,
        "PATH": f"{ROOT / '.venv/bin'}:{os.environ.get('PATH', '')}",
        # Only a notice over the shared channel layer can wake the second process's socket.
        "EVENTHUB_LIVE_RESYNC_SECONDS": "600",
    }


@pytest.fixture
def topology(topology_env: dict[str, str], rabbitmq_url: str, tmp_path: Path) -> Iterator[Honcho]:
    stack = Honcho(topology_env, tmp_path / "honcho.log")
    try:
        _wait_for_web(stack)
        probe = Celery(broker=rabbitmq_url)

        def both_workers_answer() -> bool:
            stack.running()
            names = {
                name.split("-")[0] for reply in probe.control.ping(timeout=1) for name in reply
            }
            return names == {"saga", "notifications"}

        wait_until(both_workers_answer, timeout=90, interval=0.5, message="both workers' pings")
        probe.close()
        yield stack
    finally:
        stack.stop()


def _staff_cookie() -> str:
    client = Client()
    client.force_login(
        get_user_model().objects.create_user("ops", password="pw-123456", is_staff=True)
    )
    return client.cookies[settings.SESSION_COOKIE_NAME].value


async def _watch_order(stack: Honcho, cookie: str) -> tuple[dict[str, Any], list[str]]:
    """Connect a dashboard to web.2, place an order through web.1, read until it ends."""
    watcher, placer = stack.port + 1, stack.port
    socket_ = await connect(
        "127.0.0.1",
        watcher,
        "/ws/dashboard/",
        {
            "Origin": f"http://127.0.0.1:{watcher}",
            "Cookie": f"{settings.SESSION_COOKIE_NAME}={cookie}",
        },
    )
    try:
        assert json.loads(await socket_.recv())["type"] == "hello"
        await socket_.send(json.dumps({"type": "resume"}))
        placed = await asyncio.to_thread(
            http_json, "POST", f"http://127.0.0.1:{placer}/orders", SEED_ORDER
        )
        order = placed["data"]
        seen: list[str] = []

        async def until_final_event() -> None:
            while "order.status.updated" not in seen:
                message = json.loads(await socket_.recv())  # a close raises ConnectionClosed
                if message.get("type") == "batch":
                    seen.extend(
                        e["eventType"]
                        for e in message["events"]
                        if e["correlationId"] == order["correlationId"]
                    )

        await asyncio.wait_for(until_final_event(), 90)
        return order, seen
    finally:
        await socket_.close()


def test_an_order_through_one_web_process_is_live_on_the_others_dashboard_and_completes(
    topology: Honcho,
):
    order, seen = asyncio.run(_watch_order(topology, _staff_cookie()))

    assert seen[0] == "order.created" and seen[-1] == "order.status.updated", seen
    assert wait_for_flow(order, timeout=90).status == Order.Status.CONFIRMED
    steps = SagaStep.objects.filter(order_id=order["orderId"])
    assert {s.name: s.state for s in steps} == {
        name: SagaStep.State.DONE for name in SagaStep.ORDER
    }
    deliveries = Delivery.objects.filter(event__correlation_id=order["correlationId"])
    assert set(deliveries.values_list("status", flat=True)) == {Delivery.Status.SUCCEEDED}
    # Each queue group's worker ran its own queues' deliveries, and only those.
    ran_by: dict[str, set[str]] = {"saga": set(), "notifications": set()}
    for queue, worker in deliveries.values_list("queue", "attempt_log__worker"):
        ran_by["notifications" if queue == "notifications" else "saga"].add(worker)
    for group, workers in ran_by.items():
        pids = _processes_of(topology, group)
        assert workers and {int(w.rsplit(":", 1)[1]) for w in workers} <= pids, (group, workers)


def _queued_messages(rabbitmq_url: str) -> int:
    listing = subprocess.run(
        ["rabbitmqctl", "-q", "list_queues", "-p", rabbitmq_url.rsplit("/", 1)[1], "messages"],
        check=True,
        capture_output=True,
        text=True,
        timeout=60,
    ).stdout
    return sum(int(line) for line in listing.split() if line.isdigit())


def test_deliveries_sent_before_any_worker_listens_wait_in_rabbitmq_until_one_does(
    topology_env: dict[str, str], rabbitmq_url: str, tmp_path: Path
):
    """The publisher declares each queue: a message is not dropped for want of a consumer."""
    web = Honcho(topology_env, tmp_path / "web.log", ("web",))
    workers: Honcho | None = None
    try:
        _wait_for_web(web)
        order = http_json("POST", f"http://127.0.0.1:{web.port}/orders", SEED_ORDER)["data"]
        first = Delivery.objects.filter(event__correlation_id=order["correlationId"])
        sent = first.filter(dispatched_at__isnull=False).count()
        assert sent == first.count() > 0
        assert _queued_messages(rabbitmq_url) == sent

        workers = Honcho(topology_env, tmp_path / "workers.log", ("saga", "notifications"))
        assert wait_for_flow(order, timeout=90).status == Order.Status.CONFIRMED
        # No relay ran: each delivery went through the broker once, none was sent again.
        deliveries = Delivery.objects.filter(event__correlation_id=order["correlationId"])
        assert set(deliveries.values_list("dispatch_seq", flat=True)) == {1}
        assert set(deliveries.values_list("status", flat=True)) == {Delivery.Status.SUCCEEDED}
    finally:
        if workers:
            workers.stop()
        web.stop()


def test_a_pool_process_killed_mid_delivery_on_rabbitmq_hands_its_message_back(
    topology_env: dict[str, str], tmp_path: Path
):
    """Late acks and reject-on-worker-lost with amqp: the message of a SIGKILLed pool process
    is requeued at once and received again (its claim then finds the delivery running and
    skips); the relay counts the attempt lost when its short lease runs out and the next one
    applies it, once."""
    # 6 s: the kill lands well before the soft time limit would fail the attempt instead.
    short_leases = {"EVENTHUB_DEFAULT_TIMEOUT_SECONDS": "6", "EVENTHUB_LEASE_GRACE_SECONDS": "1"}
    stack = Honcho({**topology_env, **short_leases}, tmp_path / "honcho.log")
    try:
        _wait_for_web(stack)
        FaultRule.objects.create(subscriber=SLOW, enabled=True, latency_ms=60_000)
        order = http_json("POST", f"http://127.0.0.1:{stack.port}/orders", SEED_ORDER)["data"]
        running = wait_until(
            lambda: Attempt.objects.filter(
                delivery__event__correlation_id=order["correlationId"],
                delivery__subscriber=SLOW,
                outcome=Attempt.Outcome.RUNNING,
            ).first(),
            message="the reservation to be running",
        )
        os.kill(int(running.worker.rsplit(":", 1)[1]), signal.SIGKILL)
        FaultRule.objects.filter(subscriber=SLOW).update(enabled=False)

        assert wait_for_flow(order, timeout=90).status == Order.Status.CONFIRMED
        delivery = Delivery.objects.get(pk=running.delivery_id)
        outcomes = list(delivery.attempt_log.values_list("outcome", flat=True))
        assert outcomes == [Attempt.Outcome.LOST, Attempt.Outcome.SUCCEEDED]
        assert Reservation.objects.filter(order_id=order["orderId"]).count() == 2
        received = re.findall(r"Task eventhub\.deliver\[([0-9a-f-]+)\] received", stack.log(0))
        assert any(n > 1 for n in Counter(received).values()), "no message was received twice"
        assert "WorkerLostError" in stack.log(0)
    finally:
        stack.stop()
