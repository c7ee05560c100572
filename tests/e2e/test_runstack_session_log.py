"""A whole operator session against ``manage.py runstack``, then its log (issue 12, acceptance).

As a user meets it, at the defaults of ``./bin/run``: an admin logs in, the shop and the
dashboard hold their websockets open all along, an order goes through, a fault is switched
on so that a subscriber dead-letters, the fault is switched off, the dead letter is retried
from the admin and the dashboard shows it succeed. The combined log of every process then
has exactly one ERROR line, the dead letter's own, and no Traceback.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from http.cookiejar import CookieJar
from pathlib import Path
from typing import Any

import pytest
from websockets.asyncio.client import ClientConnection

from eventhub.devtools.websocket_client import connect, received
from tests.e2e.test_runstack import (
    EXIT_SECONDS,
    FLOW_SECONDS,
    Stack,
    running_stack,
)

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(
        bool(os.environ.get("DATABASE_URL")),
        reason="runstack's embedded default is SQLite; this run targets DATABASE_URL",
    ),
]

PASSWORD = "session-log-test-pw"
FAILING = "notifications.order_confirmation"
CSRF_FIELD = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')
BAD_LINE = re.compile(r"\bERROR\b|Traceback")


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[Stack]:
    """runstack as ./bin/run starts it: only its own var dir and a known dev password."""
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in {"REDIS_URL", "DATABASE_URL", "CELERY_BROKER_URL", "CHANNEL_LAYER_URL"}
        and not key.startswith(("EVENTHUB_", "LOG_LEVEL", "EMAIL_"))
    }
    env.update(
        EVENTHUB_VAR_DIR=str(tmp_path / "var"), DJANGO_DEV_PASSWORD=PASSWORD, PYTHONUNBUFFERED="1"
    )
    with running_stack(tmp_path, env) as running:
        yield running


class Operator:
    """A logged-in admin over HTTP: a cookie jar and Django's CSRF token, no JavaScript."""

    def __init__(self, base: str) -> None:
        self.base = base
        self.jar = CookieJar()
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(self.jar))

    def cookie(self, name: str) -> str:
        return next(c.value for c in self.jar if c.name == name and c.value is not None)

    def request(
        self, method: str, path: str, *, body: Any = None, form: dict[str, str] | None = None
    ) -> tuple[int, str]:
        headers = {"Origin": self.base}
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        elif form is not None:
            data = urllib.parse.urlencode(form).encode()
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        if method == "POST" and any(c.name == "csrftoken" for c in self.jar):
            headers["X-CSRFToken"] = self.cookie("csrftoken")
        req = urllib.request.Request(self.base + path, data=data, method=method, headers=headers)
        try:
            with self.opener.open(req, timeout=10) as response:
                return response.status, response.read().decode()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read().decode()

    def json(self, method: str, path: str, body: Any = None) -> Any:
        status, text = self.request(method, path, body=body)
        assert status in (200, 201), (status, text[:2000])
        return json.loads(text)

    def log_in(self, username: str, password: str) -> None:
        status, page = self.request("GET", "/admin/login/")
        assert status == 200, page[:2000]
        [token] = CSRF_FIELD.findall(page)
        form = {
            "username": username,
            "password": password,
            "csrfmiddlewaretoken": token,
            "next": "/admin/",
        }
        status, page = self.request("POST", "/admin/login/?next=/admin/", form=form)
        assert status == 200 and "Log out" in page, page[:2000]


class Dashboard:
    """The dashboard's websocket, read in the background: every delivery status it pushed."""

    def __init__(self, socket: ClientConnection) -> None:
        self.socket = socket
        self.statuses: dict[int, list[str]] = {}
        self.closed = False
        self.task = asyncio.get_running_loop().create_task(self._run())

    async def _run(self) -> None:
        try:
            async for text in received(self.socket):
                message = json.loads(text)
                for delivery in message.get("deliveries", []):
                    seen = self.statuses.setdefault(delivery["id"], [])
                    if not seen or seen[-1] != delivery["status"]:
                        seen.append(delivery["status"])
        finally:
            self.closed = True

    async def wait_for(self, check: Callable[[], bool], what: str, seconds: float) -> None:
        deadline = asyncio.get_running_loop().time() + seconds
        while not check():
            assert not self.closed, f"the dashboard socket closed while waiting for {what}"
            if asyncio.get_running_loop().time() > deadline:
                raise AssertionError(f"the dashboard did not show {what} within {seconds:.0f} s")
            await asyncio.sleep(0.1)


async def operate(base: str, port: int) -> None:
    operator = Operator(base)
    call = asyncio.to_thread
    await call(operator.log_in, "admin", PASSWORD)
    for path in ("/", "/dashboard/", "/favicon.ico", "/admin/eventhub/deadletter/"):
        status, _ = await call(operator.request, "GET", path)
        assert status == 200, path  # /favicon.ico after its redirect to the static icon

    session = f"sessionid={operator.cookie('sessionid')}"
    headers = {"Origin": base, "Cookie": session}
    shop = await connect("127.0.0.1", port, "/ws/shop/", headers)
    socket = await connect("127.0.0.1", port, "/ws/dashboard/", headers)
    dashboard = Dashboard(socket)
    await socket.send(json.dumps({"type": "resume", "cursor": None}))

    # 1. An order that goes through.
    order = {"userId": "user-789", "items": [{"productId": "PROD-001", "quantity": 1}]}
    placed = (await call(operator.json, "POST", "/orders", order))["data"]

    def status_of(order_id: str) -> str:
        return operator.json("GET", f"/orders/{order_id}")["data"]["status"]

    for _ in range(int(FLOW_SECONDS * 2)):
        if await call(status_of, placed["orderId"]) == "confirmed":
            break
        await asyncio.sleep(0.5)
    assert await call(status_of, placed["orderId"]) == "confirmed"

    # 2. A fault on the confirmation mail: its delivery fails five times and is dead-lettered
    #    (the default backoff: about 15 s).
    fault = {"subscriber": FAILING, "enabled": True, "mode": "always"}
    await call(operator.json, "POST", "/dashboard/api/faults", fault)
    second = (await call(operator.json, "POST", "/orders", order))["data"]
    query = urllib.parse.urlencode(
        {"eventType": "event.processing.failed", "correlationId": second["correlationId"]}
    )

    def dead_letters() -> list[dict[str, Any]]:
        return operator.json("GET", f"/events?{query}")["data"]

    for _ in range(int(FLOW_SECONDS * 2)):
        if await call(dead_letters):
            break
        await asyncio.sleep(0.5)
    [dead] = await call(dead_letters)
    assert dead["data"]["subscriber"] == FAILING
    delivery_id = dead["data"]["deliveryId"]
    await dashboard.wait_for(
        lambda: "dead" in dashboard.statuses.get(delivery_id, []), "the dead letter", 30
    )

    # 3. Fault off, and the dead letter retried with the admin's action.
    await call(
        operator.json, "POST", "/dashboard/api/faults", {**fault, "enabled": False, "mode": "none"}
    )
    status, page = await call(
        operator.request,
        "POST",
        "/admin/eventhub/deadletter/",
        form={
            "action": "retry_selected",
            "_selected_action": str(delivery_id),
            "index": "0",
            "csrfmiddlewaretoken": operator.cookie("csrftoken"),
        },
    )
    assert status == 200 and "Retrying 1 dead letter" in page, page[:3000]

    # 4. The dashboard shows it succeed.
    await dashboard.wait_for(
        lambda: dashboard.statuses.get(delivery_id, [])[-1:] == ["succeeded"],
        "the retried delivery succeed",
        FLOW_SECONDS,
    )
    assert not dashboard.closed
    await shop.close()
    await socket.close()
    dashboard.task.cancel()


def test_a_session_with_an_order_a_fault_a_dead_letter_and_a_retry_logs_one_error(
    stack: Stack,
) -> None:
    asyncio.run(operate(stack.base, int(stack.base.rsplit(":", 1)[1])))

    stack.proc.send_signal(signal.SIGINT)
    assert stack.proc.wait(timeout=EXIT_SECONDS) == 0, stack.output()[-5000:]
    log = stack.output()
    bad = [line for line in log.splitlines() if BAD_LINE.search(line)]
    assert len(bad) == 1, "\n".join(bad) or log[-5000:]
    assert re.search(
        rf"^worker +\| .* ERROR eventhub\.bus\.delivery dead letter \(no attempts left\): "
        rf"{re.escape(FAILING)}: attempt 5/5 of event order\.created ",
        bad[0],
    ), bad[0]
    assert "WARNING celery.redirected" not in log  # the console mails are INFO
    assert "Not Found: /favicon.ico" not in log
