"""Workers keep their database connection across deliveries (EVENTHUB_WORKER_CONN_MAX_AGE).

Celery's Django fixup closes the connection around every task unless told otherwise, which
on PostgreSQL means a new backend process per delivery. The probe subscriber records, with
each effect, how many connections its process has opened so far.
"""

from __future__ import annotations

import pytest
from django.db import connection

from . import probe
from .test_chaos import publish_pings, settled

pytestmark = pytest.mark.django_db(transaction=True)


def connections_used() -> set[tuple[int, int]]:
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT DISTINCT pid, connections FROM {probe.TABLE} WHERE subscriber = %s",
            [probe.AT_LEAST_ONCE],
        )
        return {(pid, opened) for pid, opened in cursor.fetchall()}


@pytest.mark.parametrize(("max_age", "at_most"), [("60", 2), ("0", None)])
def test_a_worker_reuses_its_connection_unless_told_not_to(
    probe_env, start_worker, relay, max_age: str, at_most: int | None
) -> None:
    start_worker(concurrency=1, EVENTHUB_WORKER_CONN_MAX_AGE=max_age)
    for _ in range(40):  # one commit each: one task each (a commit's deliveries share one)
        publish_pings(1)
    settled(timeout=120)
    used = connections_used()
    if at_most is not None:
        assert 1 <= len(used) <= at_most, used
    else:
        assert len(used) >= 35, used  # one per task, as Celery's default would have it
