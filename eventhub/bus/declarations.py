"""Event types, declared once: name, current version, payload schema, source, aggregate.

    @event("order.created", version=1, source="order-service", aggregate="order",
           aggregate_key="order_id")
    @dataclass(frozen=True)
    class OrderCreated(DomainEvent):
        order_id: str
        ...

Stored events of older versions are lifted by registered upcasters, one version at a time,
so that handlers only ever see the current version.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field, is_dataclass
from typing import Any, ClassVar, TypeVar

from .errors import UnsupportedEventVersion

EVENT_TYPE_RE = re.compile(r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+$")

Upcaster = Callable[[dict[str, Any]], dict[str, Any]]


class DomainEvent:
    """Marker base of event payloads. ``spec`` is set by the @event decorator."""

    spec: ClassVar[EventSpec]

    def aggregate_id(self) -> str:
        return str(getattr(self, self.spec.aggregate_key))


@dataclass
class EventSpec:
    """What the bus knows of one event type."""

    event_type: str
    version: int
    payload: type[DomainEvent]
    source: str
    aggregate: str
    aggregate_key: str
    upcasters: dict[int, Upcaster] = field(default_factory=dict)

    def upcast(self, version: int, data: dict[str, Any]) -> dict[str, Any]:
        """Lift wire data stored at ``version`` to the current version."""
        if version == self.version:
            return data
        if not 1 <= version < self.version:
            raise UnsupportedEventVersion(
                f"{self.event_type} version {version} is not supported "
                f"(current version is {self.version})"
            )
        for v in range(version, self.version):
            step = self.upcasters.get(v)
            if step is None:
                raise UnsupportedEventVersion(
                    f"{self.event_type} version {version} is not supported "
                    f"(no upcaster from version {v} to {v + 1})"
                )
            data = step(data)
        return data


_SPECS: dict[str, EventSpec] = {}

E = TypeVar("E", bound=type[DomainEvent])


def event(
    event_type: str, *, version: int = 1, source: str, aggregate: str, aggregate_key: str
) -> Callable[[E], E]:
    """Declare a payload dataclass as the current version of ``event_type``."""
    if not EVENT_TYPE_RE.match(event_type):
        raise ValueError(f"event type {event_type!r} must be dotted lower case, e.g. order.created")

    def register(cls: E) -> E:
        if not is_dataclass(cls) or not issubclass(cls, DomainEvent):
            raise TypeError(f"{cls.__name__} must be a dataclass deriving from DomainEvent")
        if event_type in _SPECS and _SPECS[event_type].payload is not cls:
            raise ValueError(f"event type {event_type} is declared twice")
        spec = EventSpec(event_type, version, cls, source, aggregate, aggregate_key)
        cls.spec = spec
        _SPECS[event_type] = spec
        return cls

    return register


def upcaster(event_type: str, *, from_version: int) -> Callable[[Upcaster], Upcaster]:
    """Register a function lifting ``event_type`` wire data from ``from_version`` to the next."""

    def register(fn: Upcaster) -> Upcaster:
        spec_for(event_type).upcasters[from_version] = fn
        return fn

    return register


def spec_for(event_type: str) -> EventSpec:
    try:
        return _SPECS[event_type]
    except KeyError:
        raise UnsupportedEventVersion(f"unknown event type {event_type}") from None


def all_specs() -> list[EventSpec]:
    return sorted(_SPECS.values(), key=lambda s: s.event_type)
