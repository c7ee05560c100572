"""``manage.py runstack`` end to end: one command starts the stack, one signal stops all of it.

No Django test database here: the launcher migrates its own SQLite file in a temporary
EVENTHUB_VAR_DIR and starts its own embedded Redis, exactly as on a fresh checkout.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import psutil
import pytest

ROOT = Path(__file__).resolve().parents[2]
START_SECONDS = 90.0
FLOW_SECONDS = 60.0
EXIT_SECONDS = 30.0
STACK_PARTS = ("redis-server", "daphne", "celery", "eventhub_relay")

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(
        bool(os.environ.get("DATABASE_URL")),
        reason="runstack's embedded default is SQLite; this run targets DATABASE_URL",
    ),
]

T = TypeVar("T")


def poll(check: Callable[[], T | None], *, seconds: float, what: str) -> T:
    """Call ``check`` until it returns something truthy; fail after ``seconds``."""
    deadline = time.monotonic() + seconds
    delay = 0.05
    while time.monotonic() < deadline:
        result = check()
        if result:
            return result
        time.sleep(delay)
        delay = min(delay * 2, 0.5)
    pytest.fail(f"{what} did not happen within {seconds:.0f} s")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Stack:
    """A ``runstack`` subprocess and the HTTP API it serves."""

    def __init__(self, proc: subprocess.Popen[bytes], port: int, log: Path) -> None:
        self.proc = proc
        self.base = f"http://127.0.0.1:{port}"
        self.log = log

    def request(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(
            self.base + path, data=data, method=method, headers={"Content-Type": "application/json"}
        )
        try:
            with urllib.request.urlopen(req, timeout=5) as response:
                return response.status, json.load(response)
        except urllib.error.HTTPError as exc:
            return exc.code, json.load(exc)

    def answers(self) -> bool:
        assert self.proc.poll() is None, f"runstack exited early:\n{self.output()}"
        try:
            return self.request("GET", "/inventory")[0] == 200
        except OSError:
            return False

    def descendants(self) -> list[psutil.Process]:
        return psutil.Process(self.proc.pid).children(recursive=True)

    def output(self) -> str:
        return self.log.read_text(errors="replace")


def alive(processes: list[psutil.Process]) -> list[psutil.Process]:
    left = []
    for process in processes:
        try:
            if process.is_running() and process.status() != psutil.STATUS_ZOMBIE:
                left.append(process)
        except psutil.NoSuchProcess:
            pass
    return left


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[Stack]:
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in {"REDIS_URL", "DATABASE_URL", "CELERY_BROKER_URL", "CHANNEL_LAYER_URL"}
    }
    env.update(EVENTHUB_VAR_DIR=str(tmp_path / "var"), PYTHONUNBUFFERED="1")
    port = free_port()
    log = tmp_path / "runstack.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "manage.py", "runstack", "--port", str(port)],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    running = Stack(proc, port, log)
    try:
        poll(running.answers, seconds=START_SECONDS, what="GET /inventory answering")
        yield running
    finally:
        leftovers = alive(running.descendants()) if proc.poll() is None else []
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        for process in alive(leftovers):
            process.kill()


def command_lines(processes: list[psutil.Process]) -> list[str]:
    lines = []
    for process in processes:
        with contextlib.suppress(psutil.Error):
            lines.append(" ".join(process.cmdline()))
    return lines


def whole_stack(stack: Stack) -> list[psutil.Process] | None:
    """runstack's descendants once all are up: Redis, daphne, the relay, Celery and its pool."""
    processes = stack.descendants()
    lines = command_lines(processes)
    celery = [line for line in lines if "celery" in line]
    others = all(any(part in line for line in lines) for part in STACK_PARTS)
    return processes if others and len(celery) >= 3 else None  # main + 2 pool processes


def stop_and_check(stack: Stack, sig: signal.Signals) -> None:
    processes = poll(lambda: whole_stack(stack), seconds=FLOW_SECONDS, what="the whole stack up")

    stack.proc.send_signal(sig)
    try:
        code = stack.proc.wait(timeout=EXIT_SECONDS)
    except subprocess.TimeoutExpired:
        pytest.fail(f"runstack ignored {sig.name}:\n{stack.output()}")
    assert code == 0, stack.output()
    poll(
        lambda: not alive(processes),
        seconds=EXIT_SECONDS,
        what=f"every process of runstack exiting after {sig.name}",
    )
    assert "runstack: stopped" in stack.output()


def test_places_an_order_and_stops_every_process_on_sigint(stack: Stack) -> None:
    status, created = stack.request(
        "POST",
        "/orders",
        {"userId": "user-789", "items": [{"productId": "PROD-001", "quantity": 1, "price": 6999}]},
    )
    assert status == 201, created
    order_id = created["data"]["orderId"]

    def confirmed() -> dict[str, Any] | None:
        order = stack.request("GET", f"/orders/{order_id}")[1]["data"]
        return order if order["status"] == "confirmed" else None

    poll(confirmed, seconds=FLOW_SECONDS, what=f"order {order_id} becoming confirmed")
    products = {p["productId"]: p for p in stack.request("GET", "/inventory")[1]["data"]}
    assert products["PROD-001"]["stock"] == 99

    stop_and_check(stack, signal.SIGINT)


def test_stops_every_process_on_sigterm(stack: Stack) -> None:
    stop_and_check(stack, signal.SIGTERM)
