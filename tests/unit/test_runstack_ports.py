"""runstack's free-port check agrees with how daphne and redis-server bind (SO_REUSEADDR)."""

from __future__ import annotations

import socket

import psutil

from eventhub.devtools.readiness import port_free
from eventhub.devtools.supervisor import restart_delay


def time_wait_on(port: int) -> bool:
    return any(
        c.laddr and c.laddr.port == port and c.status == psutil.CONN_TIME_WAIT
        for c in psutil.net_connections("tcp4")
    )


def test_a_port_with_only_time_wait_sockets_is_free_a_listening_one_is_not() -> None:
    with socket.socket() as server:
        server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        server.bind(("127.0.0.1", 0))
        server.listen()
        port = server.getsockname()[1]
        assert not port_free(port)
        client = socket.create_connection(("127.0.0.1", port))
        accepted, _ = server.accept()
        accepted.close()  # the server side closes first: its socket goes to TIME_WAIT
        client.recv(1)
        client.close()
    assert time_wait_on(port)
    assert port_free(port)


def test_restarts_back_off_1_2_4_8_seconds() -> None:
    assert [restart_delay(n) for n in range(1, 7)] == [1, 2, 4, 8, 8, 8]
