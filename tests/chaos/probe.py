"""Chaos probes: subscribers whose every application is logged in a plain table.

Installed in every process of a chaos test (``EVENTHUB_PLUGINS=tests.chaos.probe``, and
``install()`` in the test process). ``chaos_effects`` has no unique constraint on purpose:
a duplicate application shows up as a second row, a lost one as none.
"""

from __future__ import annotations

import os
import signal
from dataclasses import dataclass

from django.db import connection
from django.db.backends.signals import connection_created

from eventhub.bus import DomainEvent, DomainSignal, Guarantee, Received, RetryPolicy, event
from eventhub.bus import subscribers as registry
from orders.events import OrderCreated

TABLE = "chaos_effects"
ONCE = "chaos.effect_once"
AT_LEAST_ONCE = "chaos.effect_at_least_once"
POISON = "chaos.poison"
QUEUE = "chaos"


@event("chaos.pinged", source="chaos", aggregate="chaos", aggregate_key="ping_id")
@dataclass(frozen=True)
class Pinged(DomainEvent):
    ping_id: str


@event("chaos.poisoned", source="chaos", aggregate="chaos", aggregate_key="ping_id")
@dataclass(frozen=True)
class Poisoned(DomainEvent):
    ping_id: str


pinged = DomainSignal(Pinged)
poisoned = DomainSignal(Poisoned)


_connections_opened = 0
"""Database connections this process has opened (a row records how many, so far)."""


def _count_connection(**_: object) -> None:
    global _connections_opened
    _connections_opened += 1


def _log(subscriber: str, event: Received) -> None:
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {TABLE} (subscriber, event_id, attempt, pid, connections) "
            "VALUES (%s, %s, %s, %s, %s)",
            [subscriber, event.event_id, event.attempt, os.getpid(), _connections_opened],
        )


def effect_once(event: Received) -> None:
    _log(ONCE, event)


def effect_at_least_once(event: Received) -> None:
    _log(AT_LEAST_ONCE, event)


def poison(event: Received) -> None:
    os.kill(os.getpid(), signal.SIGKILL)  # a message that kills whichever process runs it


def install() -> None:
    connection_created.connect(_count_connection, dispatch_uid="chaos-probe-connections")
    on = (OrderCreated, Pinged)
    registry.subscriber(ONCE, on=on, queue=QUEUE, guarantee=Guarantee.EFFECTIVELY_ONCE)(effect_once)
    registry.subscriber(AT_LEAST_ONCE, on=on, queue=QUEUE)(effect_at_least_once)
    registry.subscriber(
        POISON,
        on=Poisoned,
        queue=QUEUE,
        retry=RetryPolicy(max_attempts=3, base_delay=0.2),
        timeout=2,
    )(poison)


def uninstall() -> None:
    for name in (ONCE, AT_LEAST_ONCE, POISON):
        registry.unregister(name)


def create_table() -> None:
    key = (
        "BIGSERIAL PRIMARY KEY"
        if connection.vendor == "postgresql"
        else ("INTEGER PRIMARY KEY AUTOINCREMENT")
    )
    with connection.cursor() as cursor:
        cursor.execute(
            f"CREATE TABLE IF NOT EXISTS {TABLE} (id {key}, subscriber VARCHAR(100) NOT NULL, "
            "event_id VARCHAR(64) NOT NULL, attempt INTEGER NOT NULL, pid INTEGER NOT NULL, "
            "connections INTEGER NOT NULL)"
        )
        cursor.execute(f"DELETE FROM {TABLE}")


def drop_table() -> None:
    with connection.cursor() as cursor:
        cursor.execute(f"DROP TABLE IF EXISTS {TABLE}")
