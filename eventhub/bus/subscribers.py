"""Subscribers: who receives which event types, on which queue, with which guarantee.

    @subscriber("inventory.reserve_stock", on=OrderCreated, queue="inventory",
                guarantee=Guarantee.EFFECTIVELY_ONCE)
    def reserve_stock(event: Received[OrderCreated]) -> None: ...

Every subscriber gets every event of its types (pub/sub); each delivery is one Celery task
on the subscriber's queue, taken by exactly one of the workers consuming it (point-to-point).
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Generic, TypeVar

from django.conf import settings

from .declarations import DomainEvent

NAME_RE = re.compile(r"^[a-z][a-z0-9_]*\.[a-z][a-z0-9_]*$")


class Guarantee(StrEnum):
    AT_MOST_ONCE = "at-most-once"
    """Tried once; a failure is recorded, never retried. For counters and analytics."""
    AT_LEAST_ONCE = "at-least-once"
    """Retried until it succeeds or is dead-lettered; the handler must tolerate repeats."""
    EFFECTIVELY_ONCE = "effectively-once"
    """At-least-once plus an idempotency record written in the handler's transaction."""


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential backoff with jitter: attempt n waits base * factor**(n-1), +-jitter."""

    max_attempts: int = 5
    base_delay: float = 1.0
    factor: float = 2.0
    max_delay: float = 300.0
    jitter: float = 0.25

    def delay_after(self, attempt: int, *, scale: float = 1.0) -> float:
        """Seconds to wait after failed attempt number ``attempt`` (1-based)."""
        try:
            grown = self.base_delay * self.factor ** (attempt - 1)
        except OverflowError:  # 2.0 ** 1024: attempt numbers go on across dead-letter retries
            grown = self.max_delay
        delay = min(self.max_delay, grown)
        return delay * scale * random.uniform(1 - self.jitter, 1 + self.jitter)


E = TypeVar("E", bound=DomainEvent)


@dataclass(frozen=True)
class Received(Generic[E]):
    """What a handler is given: the payload at its current version plus the envelope."""

    event_id: str
    event_type: str
    version: int
    timestamp: int
    source: str
    aggregate_id: str
    sequence: int
    correlation_id: str
    causation_id: str | None
    attempt: int
    data: E


Handler = Callable[[Received[Any]], None]


@dataclass(frozen=True)
class Subscriber:
    name: str
    event_types: tuple[str, ...]
    handler: Handler
    queue: str
    guarantee: Guarantee
    retry: RetryPolicy
    timeout: float | None
    """Seconds the handler may run; None takes EVENTHUB["DEFAULT_TIMEOUT_SECONDS"]."""
    replayable: bool = False
    """May be run again over history (replay, redrive ``all``): a projection or read model
    whose writes follow from the events alone. Never a handler with effects outside its own
    rows (a payment, a mail, a stock move) or that publishes events."""

    @property
    def service(self) -> str:
        """The service lane the subscriber belongs to: the part of its name before the dot."""
        return self.name.split(".", 1)[0]

    @property
    def max_attempts(self) -> int:
        return 1 if self.guarantee is Guarantee.AT_MOST_ONCE else self.retry.max_attempts


_REGISTRY: dict[str, Subscriber] = {}


def subscriber(
    name: str,
    *,
    on: type[DomainEvent] | tuple[type[DomainEvent], ...],
    queue: str,
    guarantee: Guarantee = Guarantee.AT_LEAST_ONCE,
    retry: RetryPolicy = RetryPolicy(),
    timeout: float | None = None,
    replayable: bool = False,
) -> Callable[[Handler], Handler]:
    """Register ``handler`` under the stable ``name`` for the given event classes.

    ``replayable=True`` lets operators re-run it over recorded events (eventhub_replay,
    eventhub_redrive --status all); see ``Subscriber.replayable``.
    """
    if not NAME_RE.match(name):
        raise ValueError(f"subscriber name {name!r} must look like service.action")
    payloads = on if isinstance(on, tuple) else (on,)

    def register(handler: Handler) -> Handler:
        existing = _REGISTRY.get(name)
        if existing is not None and existing.handler.__qualname__ != handler.__qualname__:
            raise ValueError(f"subscriber {name} is registered twice")
        _REGISTRY[name] = Subscriber(
            name=name,
            event_types=tuple(p.spec.event_type for p in payloads),
            handler=handler,
            queue=queue,
            guarantee=guarantee,
            retry=retry,
            timeout=timeout,
            replayable=replayable,
        )
        return handler

    return register


def unregister(name: str) -> None:
    """Remove a subscriber (plugins and tests that installed one for a while)."""
    _REGISTRY.pop(name, None)


def get(name: str) -> Subscriber | None:
    return _REGISTRY.get(name)


def for_event_type(event_type: str) -> list[Subscriber]:
    return [s for s in _REGISTRY.values() if event_type in s.event_types]


def all_subscribers() -> list[Subscriber]:
    return sorted(_REGISTRY.values(), key=lambda s: s.name)


def queues() -> list[str]:
    return sorted({s.queue for s in _REGISTRY.values()})


def timeout_of(sub: Subscriber | None) -> float:
    default = float(settings.EVENTHUB["DEFAULT_TIMEOUT_SECONDS"])
    return default if sub is None or sub.timeout is None else sub.timeout
