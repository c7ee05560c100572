"""``runstack``'s supervision: a child that exits is started again, the rest staying up.

The back-off doubles from 1 s to ``MAX_RESTART_DELAY_SECONDS`` (8 s); a child's
``MAX_CRASHES``-th exit (5) within ``CRASH_WINDOW_SECONDS`` (60 s) means it keeps crashing,
and the launcher stops everything rather than restart it forever. A worker crash also has
its lost work recovered at once (``eventhub.bus.recovery``) instead of waiting for leases.
"""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass, field

from django.db import DatabaseError, connections

from eventhub.bus.recovery import abandon_dead_local_attempts, redispatch_unstarted

from .process_groups import Child, Stack

MAX_CRASHES = 5
CRASH_WINDOW_SECONDS = 60.0
MAX_RESTART_DELAY_SECONDS = 8.0


class ChildKeepsCrashing(Exception):
    def __init__(self, child: Child, crashes: int) -> None:
        super().__init__(
            f"{child.name} exited with {child.proc.returncode}, its {crashes}th exit within "
            f"{CRASH_WINDOW_SECONDS:.0f} s"
        )


def restart_delay(recent_crashes: int) -> float:
    """1 s after the first crash in the window, then 2, 4, 8 s."""
    return min(2.0 ** (recent_crashes - 1), MAX_RESTART_DELAY_SECONDS)


def recover_lost_work(stack: Stack, why: str) -> None:
    """Record the attempts of vanished workers as lost, send unstarted deliveries again.

    The database may be down as well: then the leases and the relay's re-dispatch recover it
    later, and the stack stays up.
    """
    try:
        abandoned = abandon_dead_local_attempts()
        released = redispatch_unstarted()
    except DatabaseError as exc:
        stack.say(f"runstack: could not recover after {why} now ({exc}); the relay will")
        return
    finally:
        connections.close_all()
    if abandoned or released:
        stack.say(
            f"runstack: after {why}: {abandoned} running attempts of dead worker processes "
            f"recorded as lost, {released} dispatched deliveries not yet started sent again"
        )


@dataclass
class Supervisor:
    """Starts again each child that exits; gives up on one that keeps crashing."""

    stack: Stack
    crashes: dict[str, deque[float]] = field(default_factory=dict)

    def restart(self, child: Child) -> None:
        now = time.monotonic()
        recent = self.crashes.setdefault(child.name, deque())
        recent.append(now)
        while recent and recent[0] < now - CRASH_WINDOW_SECONDS:
            recent.popleft()
        self.stack.reap(child)
        if len(recent) >= MAX_CRASHES:
            raise ChildKeepsCrashing(child, len(recent))
        delay = restart_delay(len(recent))
        self.stack.say(
            f"runstack: {child.name} exited with {child.proc.returncode}; restarting in {delay:g} s"
        )
        if child.name == "worker":
            recover_lost_work(self.stack, "a worker crash")
        time.sleep(delay)
        self.stack.start(child.name, child.argv)

    def poll(self) -> None:
        for child in [c for c in self.stack.children if not c.running]:
            self.restart(child)

    def run_forever(self) -> None:
        while True:
            self.restart(self.stack.wait_for_exit())
