"""The event log read back, for upcasters that need what an earlier event of the aggregate said.

A later version of an event may carry what its first version left to be looked up elsewhere
(the saga's events now carry the order's user, total, items and address, which version 1
left subscribers to read from the order's rows). The log is append-only: the first
``order.created`` of an order reads the same on every read, so an upcaster that copies from
it is as repeatable as one that computes from the payload alone, unlike one that reads an
app's current rows.
"""

from __future__ import annotations

from typing import Any

from django.apps import apps

from .declarations import spec_for


def first_recorded(event_type: str, *, aggregate_type: str, aggregate_id: str) -> dict[str, Any]:
    """The wire data of the aggregate's first ``event_type`` event, lifted to the current
    version; ``{}`` when the log holds none (an upcaster then leaves the field null, and the
    delivery is dead-lettered naming it rather than acting on a guess)."""
    # By the app registry, not an import: upcasters are declared in events.py modules, which
    # may be imported before the models are.
    stored = (
        apps.get_model("eventhub", "Event")
        .objects.filter(
            aggregate_type=aggregate_type, aggregate_id=aggregate_id, event_type=event_type
        )
        .order_by("id")
        .values("version", "data")
        .first()
    )
    if stored is None:
        return {}
    return spec_for(event_type).upcast(stored["version"], stored["data"])
