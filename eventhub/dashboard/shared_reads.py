"""Timeline reads shared by one process's dashboard connections between change notices.

Every connection wakes on the same notice and would run the same queries from the same
cursor; ten open dashboards cost ten reads of each batch (measured: 58% of daphne's time at
1,000 events/s with 10 clients went to these reads, run one after another on the database
thread). Here the first connection reads and the others reuse its result, as long as

- the read *started* after the latest change notice this process received (a notice is sent
  after its commit, so such a read saw that commit), and
- it is younger than ``MAX_AGE`` (notices are at-most-once: a lost one must not keep an old
  read alive).

So a connection never gets data older than what it would have read itself when it was
woken, and the page's cursor and hole bookkeeping stay per connection.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Hashable
from typing import Any, TypeVar

MAX_AGE = 0.1
MAX_ENTRIES = 256

T = TypeVar("T")

_lock = threading.Lock()
_entries: dict[Hashable, tuple[float, Any]] = {}
_notice_at = 0.0


def noticed() -> None:
    """A change notice arrived: reads started before now may miss that change."""
    global _notice_at
    _notice_at = time.monotonic()


def shared(key: Hashable, read: Callable[[], T]) -> T:
    """``read()``, or the result of an identical read that is still as fresh as one now.

    The result is shared: callers must not mutate it.
    """
    now = time.monotonic()
    with _lock:
        entry = _entries.get(key)
        if entry is not None and entry[0] > _notice_at and now - entry[0] < MAX_AGE:
            return entry[1]  # type: ignore[no-any-return]
    started = time.monotonic()
    result = read()
    with _lock:
        _entries[key] = (started, result)
        if len(_entries) > MAX_ENTRIES:
            for stale in [k for k, (at, _) in _entries.items() if now - at >= MAX_AGE]:
                del _entries[stale]
    return result


def clear() -> None:
    with _lock:
        _entries.clear()
