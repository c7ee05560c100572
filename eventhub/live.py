"""Live change notices for the websocket pages, sent after commit over the channel layer.

A notice says only what *kind* of thing changed (``event``, ``delivery``, ``retryBatch``,
``pause``): a consumer reads nothing else (the shop wakes on events only, the dashboard on
any), and pages read the data itself from the database, by cursor. Group sends are
at-most-once, so a lost notice costs latency, never data: pages resync on reconnect and
periodically. A process coalesces its notices: at most one message per kind per flush.
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading
import time

from channels.layers import get_channel_layer
from django.db import transaction

log = logging.getLogger(__name__)

GROUP = "eventhub.changes"
MESSAGE_TYPE = "changes.notice"
FLUSH_SECONDS = 0.02


class _Notifier:
    """Coalesces this process's notices and sends them from one thread with its own event loop.

    The hot path (a handler finishing) only adds to a set; at most one message per kind
    leaves the process every ``FLUSH_SECONDS``.
    Safe across fork: a child process starts its own thread on first use.
    """

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.pending: set[str] = set()
        self.wakeup = threading.Event()
        self.pid = 0

    def add(self, kind: str) -> None:
        with self.lock:
            if self.pid != os.getpid():
                self.pid = os.getpid()
                self.pending = set()
                self.wakeup = threading.Event()
                threading.Thread(target=self._run, name="eventhub-live", daemon=True).start()
            self.pending.add(kind)
        self.wakeup.set()

    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        layer = get_channel_layer()
        while True:
            self.wakeup.wait()
            time.sleep(FLUSH_SECONDS)
            with self.lock:
                self.wakeup.clear()
                batch, self.pending = sorted(self.pending), set()
            for kind in batch:
                try:
                    loop.run_until_complete(
                        layer.group_send(GROUP, {"type": MESSAGE_TYPE, "kind": kind})
                    )
                except Exception as exc:  # best effort: the database has the truth
                    log.debug("live notice dropped: %s", exc)


_notifier = _Notifier()


def announce(kind: str) -> None:
    """Tell every connected page that something of ``kind`` changed, once the current
    transaction commits."""
    transaction.on_commit(lambda: _notifier.add(kind), robust=True)


def event_recorded() -> None:
    announce("event")


def delivery_changed() -> None:
    announce("delivery")


def retry_batch_changed() -> None:
    announce("retryBatch")


def delivery_running() -> None:
    """A delivery's handler started: sent now, not on commit (a successful attempt commits
    its start and its success together, so "running" is never in the database)."""
    _notifier.add("delivery")
