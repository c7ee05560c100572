"""A pause survives a restart of ``./bin/run`` (issue 14, acceptance): 100 orders are placed
while ``notifications.order_confirmation`` is paused; the stack is stopped and started
again; the 100 confirmations are still held (not attempted, not mailed); ``eventhub_resume``
then sends them in the order the orders were recorded, each once: 0 lost, 0 doubled.

The stack is ``manage.py runstack`` on its own SQLite file, started and stopped through
``test_runstack``'s helpers; this test reads that file directly (read-only queries).
"""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from tests.e2e.test_runstack import EXIT_SECONDS, FLOW_SECONDS, ROOT, Stack, poll, running_stack

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(
        bool(os.environ.get("DATABASE_URL")),
        reason="runstack's embedded default is SQLite; this run targets DATABASE_URL",
    ),
]

PAUSED = "notifications.order_confirmation"
ORDERS = 100


def stack_env(var: Path) -> dict[str, str]:
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in {"REDIS_URL", "DATABASE_URL", "CELERY_BROKER_URL", "CHANNEL_LAYER_URL"}
    }
    env.update(EVENTHUB_VAR_DIR=str(var), PYTHONUNBUFFERED="1")
    return env


def manage(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def query(var: Path, sql: str, *params: object) -> list[tuple[object, ...]]:
    with sqlite3.connect(f"file:{var / 'db.sqlite3'}?mode=ro", uri=True, timeout=30) as db:
        return db.execute(sql, params).fetchall()


def held(var: Path) -> tuple[int, int, int]:
    """(pending deliveries, attempts recorded, confirmations mailed) of the paused one."""
    ((pending,),) = query(
        var,
        "SELECT count(*) FROM eventhub_delivery WHERE subscriber = ? AND status = 'pending' "
        "AND attempts = 0",
        PAUSED,
    )
    ((attempts,),) = query(
        var,
        "SELECT count(*) FROM eventhub_attempt a JOIN eventhub_delivery d "
        "ON a.delivery_id = d.id WHERE d.subscriber = ?",
        PAUSED,
    )
    ((mailed,),) = query(
        var, "SELECT count(*) FROM notifications_notification WHERE kind = 'order_confirmation'"
    )
    return pending, attempts, mailed


def settled(var: Path) -> bool:
    """Every order is through its saga (what the other subscribers do goes on)."""
    ((open_orders,),) = query(var, "SELECT count(*) FROM orders_order WHERE status = 'pending'")
    ((orders,),) = query(var, "SELECT count(*) FROM orders_order")
    return orders == ORDERS and open_orders == 0


def stop(stack: Stack) -> None:
    stack.proc.send_signal(signal.SIGINT)
    assert stack.proc.wait(timeout=EXIT_SECONDS) == 0, stack.output()


def test_a_pause_holds_100_deliveries_across_a_restart_then_resume_sends_them_in_order_once(
    tmp_path: Path,
) -> None:
    var = tmp_path / "var"
    env = stack_env(var)
    with running_stack(tmp_path, env) as stack:
        paused = manage(env, "eventhub_pause", PAUSED, "--reason", "restart test")
        assert paused.returncode == 0, paused.stderr
        for i in range(ORDERS):
            status, body = stack.request(
                "POST",
                "/orders",
                {
                    "userId": f"user-{i:03d}",
                    "items": [{"productId": "PROD-003", "quantity": 1, "price": 1999}],
                },
            )
            assert status == 201, body
        poll(lambda: settled(var), seconds=FLOW_SECONDS * 2, what="every saga to finish")
        assert held(var) == (ORDERS, 0, 0)
        stop(stack)

    with running_stack(tmp_path, env) as stack:
        # The restarted relay and worker have had their passes (a marker key in the fresh
        # broker says the relay ran one); nothing of the paused subscriber ran.
        poll(lambda: "relay: running" in stack.output(), seconds=FLOW_SECONDS, what="relay")
        status, body = stack.request(
            "POST",
            "/orders",
            {"userId": "user-late", "items": [{"productId": "PROD-003", "quantity": 1}]},
        )
        assert status == 201, body
        late = body["data"]["orderId"]
        poll(
            lambda: (
                query(var, "SELECT status FROM orders_order WHERE order_id = ?", late)
                == [("confirmed",)]
            ),
            seconds=FLOW_SECONDS,
            what="an order placed after the restart to go through",
        )
        assert held(var) == (ORDERS + 1, 0, 0)

        resumed = manage(env, "eventhub_resume", PAUSED)
        assert resumed.returncode == 0, resumed.stderr
        assert f"{ORDERS + 1} held deliveries" in resumed.stdout
        poll(
            lambda: held(var)[2] == ORDERS + 1,
            seconds=FLOW_SECONDS,
            what="every held confirmation to be sent",
        )
        poll(
            lambda: not query(var, "SELECT 1 FROM eventhub_subscriberpause"),
            seconds=FLOW_SECONDS,
            what="the pause to end",
        )
        recorded = [
            row[0]
            for row in query(
                var,
                "SELECT aggregate_id FROM eventhub_event WHERE event_type = 'order.created' "
                "ORDER BY id",
            )
        ]
        sent = [
            row[0]
            for row in query(
                var,
                "SELECT n.order_id FROM eventhub_attempt a "
                "JOIN eventhub_delivery d ON a.delivery_id = d.id "
                "JOIN eventhub_event e ON d.event_id = e.id "
                "JOIN notifications_notification n ON n.event_id = e.event_id "
                "WHERE d.subscriber = ? ORDER BY a.started_at, a.id",
                PAUSED,
            )
        ]
        assert len(recorded) == ORDERS + 1
        assert sent == recorded  # in recorded order, each once: 0 lost, 0 doubled
        assert query(
            var,
            "SELECT DISTINCT attempts, status FROM eventhub_delivery WHERE subscriber = ?",
            PAUSED,
        ) == [(1, "succeeded")]
        stop(stack)
