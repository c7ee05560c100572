"""Lost and duplicated, reported separately: every published event ID against every effect."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field

from django.db import connection

from .probe import TABLE


@dataclass
class Report:
    subscriber: str
    published: int
    applied: int
    lost: list[str] = field(default_factory=list)
    duplicated: dict[str, int] = field(default_factory=dict)


def effects(subscriber: str) -> Counter[str]:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT event_id FROM {TABLE} WHERE subscriber = %s", [subscriber])
        return Counter(row[0] for row in cursor.fetchall())


def check(event_ids: Iterable[str], subscriber: str) -> Report:
    """Compare what was published with what ``subscriber`` applied; print the report."""
    published = {str(e) for e in event_ids}
    applied = effects(subscriber)
    report = Report(
        subscriber=subscriber,
        published=len(published),
        applied=sum(applied.values()),
        lost=sorted(published - set(applied)),
        duplicated={e: n for e, n in applied.items() if n > 1},
    )
    summary = {**asdict(report), "lost": len(report.lost), "duplicated": len(report.duplicated)}
    print("chaos check:", json.dumps(summary))
    return report
