"""Dashboard connections share a read only when it is as fresh as their own would be."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest

from eventhub.dashboard import shared_reads
from eventhub.dashboard.shared_reads import noticed, shared


@pytest.fixture(autouse=True)
def empty_cache(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    shared_reads.clear()
    monkeypatch.setattr(shared_reads, "_notice_at", 0.0)
    yield
    shared_reads.clear()


class Reader:
    def __init__(self) -> None:
        self.calls = 0

    def __call__(self) -> int:
        self.calls += 1
        return self.calls


def test_connections_woken_by_one_notice_share_one_read() -> None:
    noticed()
    read = Reader()
    assert [shared("k", read) for _ in range(10)] == [1] * 10
    assert read.calls == 1
    assert shared("other key", read) == 2


def test_a_read_that_started_before_a_notice_is_not_reused() -> None:
    read = Reader()
    assert shared("k", read) == 1
    noticed()
    assert shared("k", read) == 2  # the change behind the notice may be missing from read 1
    assert shared("k", read) == 2


def test_a_notice_during_a_read_makes_that_read_stale() -> None:
    started = threading.Event()
    release = threading.Event()

    def slow() -> str:
        started.set()
        release.wait(5)
        return "before the notice"

    reader = threading.Thread(target=lambda: shared("k", slow))
    reader.start()
    assert started.wait(5)
    noticed()
    release.set()
    reader.join(5)
    assert shared("k", lambda: "after the notice") == "after the notice"


def test_without_notices_a_read_expires_after_max_age(monkeypatch: pytest.MonkeyPatch) -> None:
    read = Reader()
    clock = [1000.0]
    monkeypatch.setattr(shared_reads.time, "monotonic", lambda: clock[0])
    assert shared("k", read) == 1
    clock[0] += shared_reads.MAX_AGE / 2
    assert shared("k", read) == 1
    clock[0] += shared_reads.MAX_AGE
    assert shared("k", read) == 2


def test_the_cache_stays_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    clock = [1000.0]
    monkeypatch.setattr(shared_reads.time, "monotonic", lambda: clock[0])
    for i in range(shared_reads.MAX_ENTRIES * 3):
        clock[0] += shared_reads.MAX_AGE / 10
        shared(i, lambda: 0)
    assert len(shared_reads._entries) <= shared_reads.MAX_ENTRIES + 1
