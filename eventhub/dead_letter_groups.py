"""Dead letters grouped by failure fingerprint (exception type + first project frame).

One read for the admin's groups page and the dashboard's dead-letter panel: per subscriber
and fingerprint, how many, first and last seen, and the latest error as a sample.
"""

from __future__ import annotations

from typing import Any

from django.db.models import Count, Max, Min, OuterRef, Subquery

from .models import DeadLetter


def dead_letter_fingerprint_groups(limit: int | None = None) -> list[dict[str, Any]]:
    """Groups, largest first: subscriber, error_type, fingerprint, count, first/last seen."""
    latest_error = (
        DeadLetter.objects.filter(
            subscriber=OuterRef("subscriber"),
            error_type=OuterRef("error_type"),
            fingerprint=OuterRef("fingerprint"),
        )
        .order_by("-dead_at", "-pk")
        .values("last_error")[:1]
    )
    groups = (
        DeadLetter.objects.values("subscriber", "error_type", "fingerprint")
        .annotate(
            count=Count("pk"),
            first_seen=Min("dead_at"),
            last_seen=Max("dead_at"),
            sample_error=Subquery(latest_error),
        )
        .order_by("-count", "subscriber", "fingerprint")
    )
    return list(groups if limit is None else groups[:limit])
