"""Django's SQLite backend, waiting for the write lock by polling it every few milliseconds.

Every transaction here is ``BEGIN IMMEDIATE`` (settings: writers queue instead of failing
half-way), so the workers, the relay and the web process take turns at one write lock.
SQLite's own busy handler waits for it with growing sleeps (1, 2, 5, 10, ... up to 100 ms
each): a process that has waited a while only looks every 100 ms, while one that just
arrived looks after 1 ms. Two busy workers, finishing a delivery every few milliseconds,
then keep the lock between them and a third process waits for seconds: the relay's retry
batch slice and its hand-off waited 0.4-3.6 s a pass and a batch at 200/s ran at 60-160/s.

Here the connection's busy timeout is 0 and a statement that finds the lock taken
(``SQLITE_BUSY``: it did nothing) is tried again after 1, 2, then every ``POLL_MAX_SECONDS``
until the configured ``timeout``, so whoever has waited long looks about as often as a
newcomer. (Polling every millisecond was fairer still, but a look costs about 40 us of CPU,
and on a loaded machine, where the holder of the lock is often preempted, the waits grew
long enough to add 2-4 ms of worker CPU per delivery.) ``BEGIN IMMEDIATE`` is such a
statement, and so is a write in autocommit (the dispatch claim). ``executemany`` keeps
SQLite's busy handler: in autocommit each of its rows is a transaction of its own, so a
retry of the whole call could apply some twice.
"""

from __future__ import annotations

import sqlite3
import time
from typing import Any

from django.db.backends.sqlite3 import base

POLL_FIRST_SECONDS = 0.001
POLL_MAX_SECONDS = 0.004
DEFAULT_TIMEOUT_SECONDS = 5.0
"""Python's sqlite3 default, when the settings give no ``timeout``."""


def is_busy(exc: sqlite3.OperationalError) -> bool:
    """SQLITE_BUSY: another connection holds the lock; the statement did nothing."""
    code = getattr(exc, "sqlite_errorcode", None)
    if code is not None:
        return code & 0xFF == sqlite3.SQLITE_BUSY
    return "database is locked" in str(exc)


def _polls(connection: sqlite3.Connection) -> bool:
    """Whether this connection waits for the lock by polling: in WAL mode only."""
    return str(connection.execute("PRAGMA journal_mode").fetchone()[0]).lower() == "wal"


class PollingCursorWrapper(base.SQLiteCursorWrapper):
    timeout: float = DEFAULT_TIMEOUT_SECONDS

    def execute(self, query: str, params: Any = None) -> Any:
        deadline = time.monotonic() + self.timeout
        pause = POLL_FIRST_SECONDS
        while True:
            try:
                return super().execute(query, params)
            except sqlite3.OperationalError as exc:
                # Inside a transaction a retry cannot succeed (an immediate transaction holds
                # the lock already; a deferred one's stale snapshot stays stale): fail at once,
                # as SQLite itself does.
                if (
                    not is_busy(exc)
                    or self.connection.in_transaction
                    or time.monotonic() >= deadline
                ):
                    raise
            time.sleep(pause)
            pause = min(pause * 2, POLL_MAX_SECONDS)

    def executemany(self, query: str, param_list: Any) -> Any:
        # The PRAGMAs on the connection, not this cursor: its rowcount is the caller's.
        raw = self.connection
        raw.execute(f"PRAGMA busy_timeout = {int(self.timeout * 1000)}")
        try:
            return super().executemany(query, param_list)
        finally:
            raw.execute(f"PRAGMA busy_timeout = {0 if _polls(raw) else int(self.timeout * 1000)}")


class DatabaseWrapper(base.DatabaseWrapper):
    def get_new_connection(self, conn_params: dict[str, Any]) -> sqlite3.Connection:
        # The init commands (journal mode) run under the busy handler, then polling takes over,
        # in WAL mode only: there a COMMIT (not retried here) never waits for a lock, while in
        # a rollback journal it needs an exclusive one and must keep SQLite's handler.
        connection = super().get_new_connection(conn_params)
        if _polls(connection):
            connection.execute("PRAGMA busy_timeout = 0")
        return connection

    def create_cursor(self, name: str | None = None) -> PollingCursorWrapper:
        cursor = self.connection.cursor(factory=PollingCursorWrapper)
        cursor.timeout = float(
            self.settings_dict["OPTIONS"].get("timeout", DEFAULT_TIMEOUT_SECONDS)
        )
        return cursor
