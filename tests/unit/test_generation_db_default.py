"""Delivery generations (migration 0008) and processes still running the code before them.

During a deploy, a worker or web process of the previous release inserts deliveries and
idempotency records without ``generation``. The column needs a default in the database, not
only in Django: without it the old worker's idempotency insert fails with an IntegrityError,
which that code reads as "already applied", and it marks the delivery succeeded without
running its handler.
"""

from __future__ import annotations

import uuid

import pytest
from django.db import connection

from eventhub.models import ProcessedEvent

pytestmark = pytest.mark.django_db


def test_an_idempotency_record_written_without_a_generation_gets_generation_0() -> None:
    event_id = uuid.uuid4()
    field = ProcessedEvent._meta.get_field("event_id")
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO eventhub_processedevent (subscriber, event_id, processed_at) "
            "VALUES (%s, %s, CURRENT_TIMESTAMP)",
            ["payments.authorize_payment", field.get_db_prep_value(event_id, connection)],
        )
    record = ProcessedEvent.objects.get(event_id=event_id)
    assert record.generation == 0
