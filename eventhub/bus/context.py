"""The flow a piece of code runs in: its correlation ID and the event that caused it.

The HTTP middleware binds the request's correlation ID; a worker binds the handled
event's correlation ID and takes its event ID as causation ID, so that every event a
handler publishes joins the same flow.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator
from contextvars import ContextVar
from dataclasses import dataclass


@dataclass(frozen=True)
class FlowContext:
    correlation_id: str | None = None
    causation_id: str | None = None


_current: ContextVar[FlowContext] = ContextVar("eventhub_flow", default=FlowContext())  # noqa: B039 - frozen


def current() -> FlowContext:
    return _current.get()


def new_correlation_id() -> str:
    return str(uuid.uuid4())


@contextlib.contextmanager
def bound(*, correlation_id: str | None, causation_id: str | None = None) -> Iterator[None]:
    token = _current.set(FlowContext(correlation_id, causation_id))
    try:
        yield
    finally:
        _current.reset(token)
