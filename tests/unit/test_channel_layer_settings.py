"""The channel layer's Redis connections outwait channels_redis's blocking read.

A consumer's receive is a BZPOPMIN of ``RedisChannelLayer.brpop_timeout`` seconds; a socket
timeout no longer than that turned every idle websocket into a TimeoutError (issue 12). The
60 s test against daphne is tests/integration/test_idle_websockets.py.
"""

from __future__ import annotations

from channels_redis.core import RedisChannelLayer
from channels_redis.utils import create_pool
from django.conf import settings


def test_every_channel_layer_connection_reads_longer_than_the_blocking_read():
    hosts = settings.CHANNEL_LAYERS["default"]["CONFIG"]["hosts"]
    assert hosts
    for host in hosts:
        # As channels_redis builds it: the settings reach the connections, not just the dict.
        kwargs = create_pool(host).connection_kwargs
        assert kwargs["socket_timeout"] > RedisChannelLayer.brpop_timeout, kwargs
        assert kwargs["socket_keepalive"] is True
        assert kwargs["socket_connect_timeout"] <= RedisChannelLayer.brpop_timeout
