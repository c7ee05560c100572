"""Domain signals: the Django idiom for "this happened", forwarded to the outbox.

An app declares one module-level signal per event and its services send it inside their own
transaction::

    order_created = DomainSignal(OrderCreated)
    order_created.send(sender=Order, event=OrderCreated(...))

The bus's receiver (``outbox.forward``) validates the payload and records the event and its
deliveries in the caller's transaction; nothing is queued before that transaction commits.
It is connected to every domain signal by ``EventhubConfig.ready``: the outbox needs the
models, and this module (which apps import from their events.py, at any time) must not.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar

from django.dispatch import Signal

from .declarations import DomainEvent

Receiver = Callable[..., Any]


class DomainSignal(Signal):
    declared: ClassVar[list[DomainSignal]] = []
    """Every domain signal, so that the outbox can be connected to those declared before it."""
    outbox: ClassVar[Receiver | None] = None
    """The outbox's receiver, once ``forward_to`` has connected it."""

    def __init__(self, payload: type[DomainEvent]) -> None:
        super().__init__()
        self.payload = payload
        DomainSignal.declared.append(self)
        self._connect_outbox()

    @classmethod
    def forward_to(cls, outbox: Receiver) -> None:
        """Connect ``outbox`` to every domain signal, declared already or later (called once
        the app registry is ready)."""
        cls.outbox = outbox
        for signal in cls.declared:
            signal._connect_outbox()

    def _connect_outbox(self) -> None:
        if DomainSignal.outbox is not None:
            uid = f"eventhub.outbox:{self.payload.spec.event_type}"
            self.connect(DomainSignal.outbox, weak=False, dispatch_uid=uid)

    def send(self, sender: Any, **named: Any) -> list[tuple[Any, Any]]:
        event = named.get("event")
        if not isinstance(event, self.payload):
            raise TypeError(
                f"{self.payload.spec.event_type} needs event={self.payload.__name__}(...)"
            )
        if DomainSignal.outbox is None:
            raise RuntimeError("no outbox: the app 'eventhub' connects it when it is ready")
        return super().send(sender, **named)

    @staticmethod
    def recorded(responses: list[tuple[Any, Any]]) -> Any:
        """The stored event (``eventhub.models.Event``) among the responses of ``send``."""
        return next(response for receiver, response in responses if receiver is DomainSignal.outbox)

    def send_robust(self, sender: Any, **named: Any) -> list[tuple[Any, Any]]:
        raise TypeError("domain signals must not swallow outbox errors: use send()")
