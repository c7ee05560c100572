"""Is it up yet? Polls with a deadline for the launcher's children, and free ports.

Shared by ``runstack`` and the benchmark. Every wait is a poll against a deadline that also
fails as soon as a child of the stack has died (no fixed sleeps standing in for readiness).
"""

from __future__ import annotations

import http.client
import socket
import time
from collections.abc import Iterator

from django.core.management.base import CommandError

from .process_groups import Stack

HOST = "127.0.0.1"
SCRATCH_PORTS = range(18000, 18999)
"""Where the benchmark's own daphne listens, away from runstack's 8000 and Redis's 6380."""


def deadline_loop(seconds: float, what: str, stack: Stack) -> Iterator[None]:
    """Yield until the caller breaks out; fail when a child dies or time runs out."""
    deadline = time.monotonic() + seconds
    delay = 0.05
    while time.monotonic() < deadline:
        stack.check_running()
        yield
        time.sleep(delay)
        delay = min(delay * 2, 0.5)
    raise CommandError(f"{what} did not answer within {seconds:.0f} s")


def redis_answers(port: int, password: str | None = None) -> bool:
    """Redis on ``port`` answers PING (after AUTH with ``password``, when it has one)."""
    request = (f"AUTH {password}\r\n" if password else "") + "PING\r\n"
    try:
        with socket.create_connection((HOST, port), timeout=0.5) as sock:
            sock.sendall(request.encode())
            reply = b""
            while b"\r\n" not in reply or (password and reply.count(b"\r\n") < 2):
                chunk = sock.recv(64)
                if not chunk:
                    break
                reply += chunk
            return reply.endswith(b"+PONG\r\n")
    except OSError:
        return False


def http_answers(port: int) -> bool:
    conn = http.client.HTTPConnection(HOST, port, timeout=2)
    try:
        conn.request("GET", "/inventory")
        conn.getresponse()
        return True
    except (OSError, http.client.HTTPException):
        return False
    finally:
        conn.close()


def wait_for_http(stack: Stack, port: int, seconds: float = 60.0) -> None:
    """Until daphne on ``port`` answers; fails if a child of ``stack`` dies first."""
    for _ in deadline_loop(seconds, "daphne", stack):
        if http_answers(port):
            return


def port_free(port: int) -> bool:
    """Whether a server could listen on ``port``: bound the way daphne (twisted) and
    redis-server bind, with SO_REUSEADDR, so that TIME_WAIT sockets of earlier clients do not
    count; a socket listening on it does."""
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((HOST, port))
        except OSError:
            return False
    return True


def free_port(ports: range = SCRATCH_PORTS) -> int:
    """The first port of ``ports`` that a server could listen on."""
    return next(p for p in ports if port_free(p))
