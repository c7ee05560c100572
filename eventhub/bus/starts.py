"""The start counter: how many times each delivery's handler was started, kept in Redis.

A successful attempt commits its claim, its attempt record and the handler's writes in one
transaction, so a process that dies mid-handler leaves nothing in the database. What
survives is this counter, bumped inside that transaction (after the claim's row lock, so
starts and commits of one delivery are ordered). A committed attempt leaves the delivery's
``attempts`` equal to its start number; a later start that finds the counter ahead of
``attempts`` knows how many starts before it died without an outcome, records them as lost
attempts and dead-letters the delivery once they reach its max attempts. The counter is
per delivery (not per dispatch) for that reason: it counts what ``attempts`` counts.

The script never returns a start number at or below ``attempts`` (a flushed or expired
key starts over from the database's count). The key names the delivery by its event's UUID
and its subscriber, never by its row id: a database flushed and refilled reuses row ids, and
a stale counter would count a new delivery's starts as lost.
"""

from __future__ import annotations

import logging
import os
from typing import Any

import redis
from django.conf import settings

from ..models import Delivery

log = logging.getLogger(__name__)

KEY = "eventhub:starts:{event_id}:{subscriber}"
TTL_SECONDS = 30 * 24 * 3600
"""Refreshed on each start; an expired key only loses starts that crashed a month ago."""

_START = """
local n = redis.call('INCR', KEYS[1])
local recorded = tonumber(ARGV[1])
if n <= recorded then
  n = recorded + 1
  redis.call('SET', KEYS[1], n)
end
redis.call('EXPIRE', KEYS[1], tonumber(ARGV[2]))
return n
"""

_client: Any = None
_script: Any = None
_made_for: tuple[int, str] = (0, "")
"""(pid, url) the client was made for: a forked child or another URL gets its own."""


def _counter() -> Any:
    global _client, _script, _made_for
    url = settings.EVENTHUB.get("START_COUNTER_URL") or settings.REDIS_URL
    if _made_for != (os.getpid(), url):
        _client = redis.Redis.from_url(url, socket_connect_timeout=1, socket_timeout=2)
        _script = _client.register_script(_START)
        _made_for = (os.getpid(), url)
    return _script


def key_of(event_id: object, subscriber: str, generation: int = 0) -> str:
    """A replay (generation n > 0) counts its starts apart from the original's: it starts
    over from attempt 1, and the original's starts are not its lost ones."""
    name = KEY.format(event_id=event_id, subscriber=subscriber)
    return f"{name}:{generation}" if generation else name


def key(delivery: Delivery) -> str:
    return key_of(delivery.event.event_id, delivery.subscriber, delivery.generation)


def record_start(delivery: Delivery, *, recorded: int) -> int | None:
    """Count one start of ``delivery`` (``recorded`` attempts on record); its number.

    None when Redis cannot be reached: the caller then records the start in the database.
    """
    try:
        return int(_counter()(keys=[key(delivery)], args=[recorded, TTL_SECONDS]))
    except redis.RedisError as exc:
        log.warning("start counter unavailable, recording the start in the database: %s", exc)
        return None


def started(delivery: Delivery) -> int:
    """How many starts of ``delivery`` were counted (0 if none, or forgotten)."""
    _counter()
    return int(_client.get(key(delivery)) or 0)


def counts(keys: list[str]) -> list[bytes | None]:
    """The raw counters under ``keys`` (one MGET); raises redis.RedisError when unreachable."""
    _counter()
    return list(_client.mget(keys))
