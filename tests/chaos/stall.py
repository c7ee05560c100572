"""A subscriber whose first start hangs inside its one-transaction attempt, until killed.

Installed with the chaos probe (``EVENTHUB_PLUGINS=tests.chaos.probe,tests.chaos.stall``).
Its effect is a row in the probe's ``chaos_effects``, written before the hang: a start that
dies rolls it back with the claim, so one row means applied once.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from eventhub.bus import DomainEvent, DomainSignal, Guarantee, Received, event
from eventhub.bus import subscribers as registry

from . import probe

STALL = "chaos.stall"
TIMEOUT_SECONDS = 4.0
"""Short, so that the relay's age bound (timeout + grace) passes within the test's time."""


@event("chaos.stalled", source="chaos", aggregate="chaos", aggregate_key="ping_id")
@dataclass(frozen=True)
class Stalled(DomainEvent):
    ping_id: str


stalled = DomainSignal(Stalled)


def stall(event: Received) -> None:
    probe._log(STALL, event)
    if event.attempt == 1:
        time.sleep(3600)  # the test kills the worker long before the soft time limit


def install() -> None:
    registry.subscriber(
        STALL,
        on=Stalled,
        queue=probe.QUEUE,
        guarantee=Guarantee.EFFECTIVELY_ONCE,
        timeout=TIMEOUT_SECONDS,
    )(stall)


def uninstall() -> None:
    registry.unregister(STALL)
