"""Domain signals: the Django idiom for "this happened", forwarded to the outbox.

An app declares one module-level signal per event and its services send it inside their own
transaction::

    order_created = DomainSignal(OrderCreated)
    order_created.send(sender=Order, event=OrderCreated(...))

The bus's receiver, connected here, validates the payload and records the event and its
deliveries in the caller's transaction; nothing is queued before that transaction commits.
"""

from __future__ import annotations

from typing import Any

from django.dispatch import Signal

from .declarations import DomainEvent


def _record(sender: Any, *, event: DomainEvent, **_: Any) -> Any:
    from .outbox import record  # the models are not importable before apps are ready

    return record(event)


class DomainSignal(Signal):
    def __init__(self, payload: type[DomainEvent]) -> None:
        super().__init__()
        self.payload = payload
        self.connect(_record, weak=False, dispatch_uid=f"eventhub.outbox:{payload.spec.event_type}")

    def send(self, sender: Any, **named: Any) -> list[tuple[Any, Any]]:
        event = named.get("event")
        if not isinstance(event, self.payload):
            raise TypeError(
                f"{self.payload.spec.event_type} needs event={self.payload.__name__}(...)"
            )
        return super().send(sender, **named)

    @staticmethod
    def recorded(responses: list[tuple[Any, Any]]) -> Any:
        """The stored event (``eventhub.models.Event``) among the responses of ``send``."""
        return next(response for receiver, response in responses if receiver is _record)

    def send_robust(self, sender: Any, **named: Any) -> list[tuple[Any, Any]]:
        raise TypeError("domain signals must not swallow outbox errors: use send()")
