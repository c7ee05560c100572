"""The relay notices a broker that lost its messages and has them sent again within a pass.

A Redis broker that restarts without persistence (the embedded one of ``runstack`` always
does) comes back empty: every message handed to it and not yet started is gone, and without
this the deliveries would wait out ``EVENTHUB_REDISPATCH_AFTER_SECONDS`` (600 s). The relay
keeps a marker key in the broker. While the key is there, the broker still holds everything
that was sent before it was set. When the key is missing (a restarted or flushed broker, a
fail-over to an empty one, a first start), every delivery dispatched before that moment and
not yet started is released for re-dispatch (``recovery.redispatch_unstarted``: safe, the
dispatch number fences old messages), and the marker is set again. A restart that kept its
data (AOF, a replica that takes over) keeps the marker, and nothing is sent twice.
"""

from __future__ import annotations

import logging
from datetime import timedelta

import redis
from celery import current_app
from django.utils import timezone

from .recovery import redispatch_unstarted

log = logging.getLogger(__name__)

MARKER_KEY = "eventhub:relay:broker-marker"

# ``dispatched_at`` is written by the web processes' and relays' clocks, the cutoff by this
# relay's: a host whose clock runs ahead by up to this much still has its lost messages
# released. Releasing a delivery dispatched to the new broker is harmless (its dispatch
# number fences the older message), so the margin errs on the side of sending again.
CLOCK_SKEW_MARGIN = timedelta(seconds=30)

_clients: dict[str, redis.Redis] = {}


def _client(url: str) -> redis.Redis:
    client = _clients.get(url)
    if client is None:
        client = _clients[url] = redis.Redis.from_url(
            url, socket_connect_timeout=1, socket_timeout=2
        )
    return client


def redispatch_if_broker_lost_messages() -> int:
    """Release the unstarted deliveries if the broker lost its data; return how many.

    A broker that is down, or one that is not Redis, is left to the other paths: dispatch
    fails and the rows stay undispatched, and the re-dispatch backstop still applies.
    """
    url = str(current_app.conf.broker_url or "")
    if not url.startswith(("redis://", "rediss://", "unix://")):
        return 0
    client = _client(url)
    cutoff = timezone.now() + CLOCK_SKEW_MARGIN
    try:
        if client.exists(MARKER_KEY):
            return 0
        run_id = str(client.info("server").get("run_id", "?"))
    except (redis.RedisError, OSError):
        return 0
    # Release first, mark after: if the database is unreachable now, the next pass tries again.
    released = redispatch_unstarted(dispatched_before=cutoff)
    try:
        client.set(MARKER_KEY, run_id)
    except (redis.RedisError, OSError):
        return released
    if released:
        log.warning(
            "relay: the broker lost its messages (restarted empty, run id %s): "
            "%d dispatched deliveries not yet started are sent again",
            run_id,
            released,
        )
    return released
