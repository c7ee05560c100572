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
from urllib.parse import urlsplit

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


def fresh_env(tmp_path: Path) -> dict[str, str]:
    """This environment without the services' URLs, and a var dir of the test's own."""
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in {"REDIS_URL", "DATABASE_URL", "CELERY_BROKER_URL", "CHANNEL_LAYER_URL"}
    }
    env.update(EVENTHUB_VAR_DIR=str(tmp_path / "var"), PYTHONUNBUFFERED="1")
    return env


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[Stack]:
    with running_stack(tmp_path, fresh_env(tmp_path)) as running:
        yield running


@contextlib.contextmanager
def running_stack(
    tmp_path: Path, env: dict[str, str], *, port: int | None = None, log_name: str = "runstack.log"
) -> Iterator[Stack]:
    """``manage.py runstack`` on ``port`` (a free one by default), answering; killed with what
    it left at exit."""
    port = port or free_port()
    log = tmp_path / log_name
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


def place_order_until_confirmed(stack: Stack, *, after: str = "") -> dict[str, Any]:
    """One PROD-001 through the shop's API, polled until the saga confirms it; the order."""
    status, created = stack.request(
        "POST",
        "/orders",
        {"userId": "user-789", "items": [{"productId": "PROD-001", "quantity": 1, "price": 6999}]},
    )
    assert status == 201, created
    order_id = created["data"]["orderId"]
    poll(
        lambda: stack.request("GET", f"/orders/{order_id}")[1]["data"]["status"] == "confirmed",
        seconds=FLOW_SECONDS,
        what=f"order {order_id} becoming confirmed{after}",
    )
    return created["data"]


def test_places_an_order_and_stops_every_process_on_sigint(stack: Stack) -> None:
    place_order_until_confirmed(stack)
    products = {p["productId"]: p for p in stack.request("GET", "/inventory")[1]["data"]}
    assert products["PROD-001"]["stock"] == 99

    stop_and_check(stack, signal.SIGINT)


def manage(tmp_path: Path, *args: str) -> str:
    """``./bin/manage ARGS`` as a user runs it beside the stack: no service URLs of its own."""
    done = subprocess.run(
        ["./bin/manage", *args],
        cwd=ROOT,
        env=fresh_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=FLOW_SECONDS,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def test_bin_manage_runs_an_operator_command_against_the_running_stack(
    stack: Stack, tmp_path: Path
) -> None:
    order = place_order_until_confirmed(stack)
    env_file = tmp_path / "var" / "stack.env"
    assert env_file.stat().st_mode & 0o777 == 0o600
    out = manage(
        tmp_path, "eventhub_replay", "--correlation-id", order["correlationId"], "--dry-run"
    )
    assert "would send" in out and "orders.record_saga_step" in out, out
    # The embedded Redis (its own port and password), not the default one; the log shows
    # its address without the password.
    logged = urlsplit(stack.output().split("embedded redis-server at ", 1)[1].split()[0])
    assert logged.password == "***", logged
    out = manage(
        tmp_path,
        "shell",
        "-c",
        "from django.conf import settings; import redis;"
        "print(settings.REDIS_URL, redis.Redis.from_url(settings.REDIS_URL).ping())",
    )
    used, answered = out.split()[-2:]
    used_url = urlsplit(used)
    assert (used_url.port, answered) == (logged.port, "True"), out
    assert used_url.password and len(used_url.password) >= 24, out
    # Without the password, the embedded Redis answers nothing but NOAUTH.
    with socket.create_connection(("127.0.0.1", used_url.port), timeout=5) as sock:
        sock.sendall(b"PING\r\n")
        assert sock.recv(64).startswith(b"-NOAUTH"), "the embedded Redis needs no password"
    # The var dir (the database with its sessions, the secret key) is this user's alone.
    assert (tmp_path / "var").stat().st_mode & 0o777 == 0o700

    stack.proc.send_signal(signal.SIGINT)
    assert stack.proc.wait(timeout=EXIT_SECONDS) == 0, stack.output()
    assert not env_file.exists()


def test_stops_every_process_on_sigterm(stack: Stack) -> None:
    stop_and_check(stack, signal.SIGTERM)


def child_of(stack: Stack, part: str) -> psutil.Process | None:
    """The direct child of runstack whose command line has ``part``."""
    for process in psutil.Process(stack.proc.pid).children():
        with contextlib.suppress(psutil.Error):
            if part in " ".join(process.cmdline()) and alive([process]):
                return process
    return None


def test_a_crashed_web_process_is_started_again_on_the_same_port(stack: Stack) -> None:
    web = poll(lambda: child_of(stack, "daphne"), seconds=FLOW_SECONDS, what="daphne")
    web.send_signal(signal.SIGKILL)
    poll(
        lambda: "runstack: web exited with -9; restarting in 1 s" in stack.output(),
        seconds=10,
        what="runstack logging the restart of daphne",
    )
    poll(stack.answers, seconds=START_SECONDS, what="GET /inventory answering again")
    new_web = child_of(stack, "daphne")
    assert new_web is not None and new_web.pid != web.pid
    assert stack.proc.poll() is None


def test_a_child_that_keeps_crashing_stops_the_stack_with_status_1(stack: Stack) -> None:
    processes = poll(lambda: whole_stack(stack), seconds=FLOW_SECONDS, what="the whole stack up")
    relays = []
    for crash in range(1, 6):
        relay = poll(
            lambda: (r := child_of(stack, "eventhub_relay")) and r not in relays and r,
            seconds=START_SECONDS,
            what=f"relay number {crash}",
        )
        relays.append(relay)
        relay.send_signal(signal.SIGKILL)
        if crash < 5:
            line = f"relay exited with -9; restarting in {2 ** (crash - 1)} s"
            poll(
                lambda line=line: line in stack.output(),
                seconds=10,
                what=f"runstack restarting the relay after crash {crash}",
            )
    try:
        code = stack.proc.wait(timeout=EXIT_SECONDS)
    except subprocess.TimeoutExpired:
        pytest.fail(f"runstack kept going after 5 relay crashes:\n{stack.output()}")
    assert code == 1
    assert "relay exited with -9, its 5th exit within 60 s; stopping every process" in (
        stack.output()
    )
    poll(lambda: not alive(processes), seconds=EXIT_SECONDS, what="every process exiting")


def time_wait_sockets(port: int) -> int:
    return sum(
        1
        for conn in psutil.net_connections("tcp4")
        if conn.laddr and conn.laddr.port == port and conn.status == psutil.CONN_TIME_WAIT
    )


def test_starts_again_right_after_a_stop_that_left_time_wait_sockets(
    stack: Stack, tmp_path: Path
) -> None:
    for _ in range(150):
        assert stack.request("GET", "/inventory")[0] == 200
    port = int(stack.base.rsplit(":", 1)[1])
    stack.proc.send_signal(signal.SIGINT)
    assert stack.proc.wait(timeout=EXIT_SECONDS) == 0, stack.output()
    assert time_wait_sockets(port) > 0  # what made the port look taken

    assert time_wait_sockets(port) > 0  # still there as it starts again
    with running_stack(
        tmp_path, fresh_env(tmp_path), port=port, log_name="runstack-again.log"
    ) as again:
        assert "is in use" not in again.output()


def test_a_crashed_embedded_redis_is_started_again_and_orders_flow(stack: Stack) -> None:
    redis = poll(lambda: child_of(stack, "redis-server"), seconds=FLOW_SECONDS, what="redis")
    redis.send_signal(signal.SIGKILL)
    poll(
        lambda: "runstack: redis exited with -9; restarting in 1 s" in stack.output(),
        seconds=10,
        what="runstack logging the restart of Redis",
    )
    poll(
        lambda: (r := child_of(stack, "redis-server")) and r.pid != redis.pid,
        seconds=START_SECONDS,
        what="a new redis-server",
    )
    place_order_until_confirmed(stack, after=" after the Redis restart")
    assert stack.proc.poll() is None
