"""The worker's log says when a delivery fails (issue 12, item 5).

Celery logs every attempt of a delivery as ``Task eventhub.deliver[...] succeeded ...:
'retrying'`` (the task ran; the delivery failed), so the bus logs each failed attempt at
WARNING and each dead letter at ERROR. Mails of the console backend are the worker's stdout,
which Celery logged as ``WARNING celery.redirected``; they are INFO now.
"""

from __future__ import annotations

import re

import pytest

from eventhub.bus import subscribers
from eventhub.models import Delivery, FaultRule
from tests.conftest import wait_until
from tests.integration.flows import SEED_ORDER, place_order, wait_for_flow

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

FAILING = "notifications.order_confirmation"
DELIVERY_LOGGER = "eventhub.bus.delivery"
RECORD_START = re.compile(r"\n(?=\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} )")


def test_each_failed_attempt_is_a_warning_and_the_dead_letter_one_error(start_worker, relay):
    worker = start_worker()  # worker_env's LOG_LEVEL is WARNING: what an operator alerts on
    FaultRule.objects.create(subscriber=FAILING, enabled=True, mode=FaultRule.Mode.ALWAYS)
    attempts = subscribers.get(FAILING).retry.max_attempts

    order = place_order(SEED_ORDER)
    wait_for_flow(order)
    delivery = Delivery.objects.select_related("event").get(
        event__correlation_id=order["correlationId"], subscriber=FAILING
    )
    assert delivery.status == Delivery.Status.DEAD
    event = delivery.event

    def lines() -> list[str]:
        return worker.log_path.read_text(errors="replace").splitlines()

    wait_until(lambda: any(" ERROR " in line for line in lines()), message="the dead letter's line")
    log = lines()
    warnings = [line for line in log if f" WARNING {DELIVERY_LOGGER} " in line]
    assert len(warnings) == attempts - 1, "\n".join(log)
    for number, line in enumerate(warnings, start=1):
        assert "attempt failed, retrying in" in line, line
        assert (
            f"{FAILING}: attempt {number}/{attempts} of event order.created {event.event_id} "
            f"(delivery {delivery.pk}): InjectedFault: fault injected: {FAILING} fails always"
        ) in line, line

    errors = [line for line in log if " ERROR " in line]
    assert len(errors) == 1, "\n".join(log)
    assert f" ERROR {DELIVERY_LOGGER} dead letter (no attempts left): " in errors[0]
    assert (
        f"{FAILING}: attempt {attempts}/{attempts} of event order.created {event.event_id} "
        f"(delivery {delivery.pk}): InjectedFault: fault injected: {FAILING} fails always"
    ) in errors[0]
    assert "Traceback" not in "\n".join(log)


def test_a_console_mail_is_logged_at_info_not_as_a_warning(start_worker):
    worker = start_worker(
        EMAIL_BACKEND="django.core.mail.backends.console.EmailBackend", LOG_LEVEL="INFO"
    )
    order = place_order(SEED_ORDER)
    wait_for_flow(order)

    def log() -> str:
        return worker.log_path.read_text(errors="replace")

    subject = f"Subject: Order received - {order['orderId']}"
    wait_until(lambda: subject in log(), message="the confirmation mail in the worker's log")
    # The mail is one record: its first line carries the level, the Subject line follows.
    records = RECORD_START.split(log())
    [mail] = [record for record in records if subject in record]
    assert " INFO celery.redirected " in mail.splitlines()[0], mail
    assert " WARNING " not in log(), log()
