"""Live change notices for the websocket pages, sent after commit over the channel layer.

A notice says only *what* changed (an event recorded, a delivery's new status) and where
(its flow); pages read the data itself from the database, by cursor. Group sends are
at-most-once, so a lost notice costs latency, never data: pages resync on reconnect and
periodically. A process coalesces its notices: one message per kind per flush carries the
latest notice of that kind and ``count``, how many notices it stands for.
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading
import time
from typing import Any

from channels.layers import get_channel_layer
from django.db import transaction

log = logging.getLogger(__name__)

GROUP = "eventhub.changes"
MESSAGE_TYPE = "changes.notice"
FLUSH_SECONDS = 0.02


class _Notifier:
    """Coalesces this process's notices and sends them from one thread with its own event loop.

    The hot path (a handler finishing) only appends to a dict; at most one message per kind
    leaves the process every ``FLUSH_SECONDS``, carrying how many notices it stands for.
    Safe across fork: a child process starts its own thread on first use.
    """

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.pending: dict[str, dict[str, Any]] = {}
        self.wakeup = threading.Event()
        self.pid = 0

    def add(self, notice: dict[str, Any]) -> None:
        with self.lock:
            if self.pid != os.getpid():
                self.pid = os.getpid()
                self.pending = {}
                self.wakeup = threading.Event()
                threading.Thread(target=self._run, name="eventhub-live", daemon=True).start()
            merged = self.pending.get(notice["kind"])
            count = (merged or {}).get("count", 0) + 1
            self.pending[notice["kind"]] = {**notice, "count": count}
        self.wakeup.set()

    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        layer = get_channel_layer()
        while True:
            self.wakeup.wait()
            time.sleep(FLUSH_SECONDS)
            with self.lock:
                self.wakeup.clear()
                batch, self.pending = list(self.pending.values()), {}
            for notice in batch:
                try:
                    loop.run_until_complete(
                        layer.group_send(GROUP, {"type": MESSAGE_TYPE, **notice})
                    )
                except Exception as exc:  # best effort: the database has the truth
                    log.debug("live notice dropped: %s", exc)


_notifier = _Notifier()


def announce(**notice: Any) -> None:
    """Send ``notice`` to every connected page once the current transaction commits."""
    transaction.on_commit(lambda: _notifier.add(notice), robust=True)


def event_recorded(
    *, position: int, event_type: str, correlation_id: str, aggregate_id: str
) -> None:
    announce(
        kind="event",
        position=position,
        eventType=event_type,
        correlationId=correlation_id,
        aggregateId=aggregate_id,
    )


def delivery_changed(*, delivery_id: int, status: str, correlation_id: str) -> None:
    announce(kind="delivery", id=delivery_id, status=status, correlationId=correlation_id)


def delivery_running(*, delivery_id: int, correlation_id: str) -> None:
    """A delivery's handler started: sent now, not on commit (a successful attempt commits
    its start and its success together, so "running" is never in the database)."""
    _notifier.add(
        {
            "kind": "delivery",
            "id": delivery_id,
            "status": "running",
            "correlationId": correlation_id,
        }
    )
