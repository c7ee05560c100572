"""The SQLite backend's wait for the write lock (eventhub/backends/sqlite3): a statement that
finds the lock taken polls for it until the configured timeout, then fails as before."""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.db import OperationalError, connection

from eventhub.backends.sqlite3.base import DatabaseWrapper

pytestmark = pytest.mark.skipif(
    connection.vendor != "sqlite", reason="the SQLite backend's own behaviour"
)


def wrapper(path: Path, timeout: float) -> DatabaseWrapper:
    settings: dict[str, Any] = {
        **connection.settings_dict,
        "NAME": str(path),
        "OPTIONS": {**connection.settings_dict["OPTIONS"], "timeout": timeout},
    }
    return DatabaseWrapper(settings, alias=f"lock-test-{path.name}")


@pytest.fixture
def database(tmp_path: Path, django_db_blocker: Any) -> Iterator[Path]:
    """A database file of its own (not the test database), opened through the backend."""
    path = tmp_path / "locks.sqlite3"
    with sqlite3.connect(path) as setup:
        setup.execute("PRAGMA journal_mode=WAL")
        setup.execute("CREATE TABLE t (v INTEGER)")
    with django_db_blocker.unblock():
        yield path


def hold_the_lock(path: Path, released: threading.Event, taken: threading.Event) -> None:
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    taken.set()
    released.wait(10)
    other.execute("COMMIT")
    other.close()


def test_the_busy_handler_is_off_and_a_waiting_write_gets_the_lock_once_it_is_free(database):
    db = wrapper(database, timeout=30)
    try:
        db.ensure_connection()
        assert db.connection.execute("PRAGMA busy_timeout").fetchone() == (0,)
        released, taken = threading.Event(), threading.Event()
        holder = threading.Thread(target=hold_the_lock, args=(database, released, taken))
        holder.start()
        assert taken.wait(10)
        threading.Timer(0.2, released.set).start()
        # BEGIN IMMEDIATE, then a write in autocommit: each waits for the holder's commit.
        with db.cursor() as cursor:
            cursor.execute("BEGIN IMMEDIATE")
            assert released.is_set()
            cursor.execute("INSERT INTO t (v) VALUES (1)")
            cursor.execute("COMMIT")
            cursor.execute("INSERT INTO t (v) VALUES (2)")
            cursor.execute("SELECT v FROM t ORDER BY v")
            assert cursor.fetchall() == [(1,), (2,)]
        holder.join(10)
    finally:
        db.close()


def test_a_write_that_never_gets_the_lock_fails_at_the_timeout_having_written_nothing(database):
    db = wrapper(database, timeout=0.3)
    released, taken = threading.Event(), threading.Event()
    holder = threading.Thread(target=hold_the_lock, args=(database, released, taken))
    holder.start()
    try:
        assert taken.wait(10)
        with pytest.raises(OperationalError, match="database is locked"), db.cursor() as cursor:
            cursor.execute("INSERT INTO t (v) VALUES (1)")
    finally:
        released.set()
        holder.join(10)
        db.close()
    with sqlite3.connect(database) as check:
        assert check.execute("SELECT count(*) FROM t").fetchone() == (0,)


def test_executemany_keeps_the_busy_handler_and_the_connection_polls_again_after(database):
    db = wrapper(database, timeout=30)
    try:
        db.ensure_connection()
        with db.cursor() as cursor:
            cursor.executemany("INSERT INTO t (v) VALUES (%s)", [(1,), (2,), (3,)])
            assert cursor.rowcount == 3  # the cursor's own state, not the PRAGMA's
        assert db.connection.execute("PRAGMA busy_timeout").fetchone() == (0,)
        assert db.connection.execute("SELECT count(*) FROM t").fetchone() == (3,)
    finally:
        db.close()


def test_a_database_not_in_wal_mode_keeps_sqlites_busy_handler(tmp_path, django_db_blocker):
    path = tmp_path / "journal.sqlite3"
    sqlite3.connect(path).close()
    db = wrapper(path, timeout=30)
    db.settings_dict["OPTIONS"] = {**db.settings_dict["OPTIONS"], "init_command": ""}
    try:
        with django_db_blocker.unblock():
            db.ensure_connection()
            assert db.connection.execute("PRAGMA journal_mode").fetchone() == ("delete",)
            assert db.connection.execute("PRAGMA busy_timeout").fetchone() == (30_000,)
    finally:
        db.close()


def test_inside_a_transaction_a_busy_statement_fails_at_once(database):
    """A deferred transaction whose snapshot another writer made stale can never write:
    retrying it for the whole timeout would only hold the snapshot."""
    db = wrapper(database, timeout=30)
    try:
        db.ensure_connection()
        raw = db.connection
        with db.cursor() as cursor:
            cursor.execute("BEGIN DEFERRED")
            cursor.execute("SELECT count(*) FROM t")  # the snapshot
            with sqlite3.connect(database, isolation_level=None) as other:
                other.execute("INSERT INTO t (v) VALUES (1)")
            started = time.monotonic()
            with pytest.raises(OperationalError, match="database is locked"):
                cursor.execute("INSERT INTO t (v) VALUES (2)")
            assert time.monotonic() - started < 5  # not the 30 s timeout
            raw.execute("ROLLBACK")
    finally:
        db.close()
