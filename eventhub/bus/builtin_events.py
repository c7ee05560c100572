"""Events the bus itself publishes."""

from dataclasses import dataclass

from .declarations import DomainEvent, event
from .signals import DomainSignal


@event(
    "event.processing.failed",
    source="eventhub",
    aggregate="delivery",
    aggregate_key="delivery_id",
)
@dataclass(frozen=True)
class EventProcessingFailed(DomainEvent):
    """A delivery ran out of attempts (or could never succeed) and was dead-lettered."""

    delivery_id: int
    original_event_id: str
    original_event_type: str
    subscriber: str
    error: str
    attempts: int
    failed_at: int
    """Epoch milliseconds."""


event_processing_failed = DomainSignal(EventProcessingFailed)
