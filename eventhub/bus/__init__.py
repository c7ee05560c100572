"""The event bus: declare events, send domain signals, subscribe handlers.

Business apps import from here only; everything behind it (outbox, dispatch, relay,
delivery) is the bus's own business.
"""

from .context import current as current_flow
from .declarations import DomainEvent, event, upcaster
from .errors import EventValidationError, NonRetryableError
from .signals import DomainSignal
from .subscribers import Guarantee, Received, RetryPolicy, subscriber

__all__ = [
    "DomainEvent",
    "DomainSignal",
    "EventValidationError",
    "Guarantee",
    "NonRetryableError",
    "Received",
    "current_flow",
    "RetryPolicy",
    "event",
    "subscriber",
    "upcaster",
]
