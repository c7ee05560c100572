"""Batch retries from the admin as an operator runs them: the relay at its DEFAULT interval
(``manage.py eventhub_relay`` as ``./bin/run`` starts it), a real worker, the batch's rate
measured from the requeue times in the database, cancel, live progress, the audit log."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from asgiref.sync import async_to_sync
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.conf import settings as django_settings
from django.contrib.admin.models import LogEntry
from django.contrib.contenttypes.models import ContentType
from django.test import Client

from eventhub.bus.retry_batches import CATCH_UP_SECONDS, retried_message
from eventhub.models import Delivery, RetryBatch
from eventhub.routing import websocket_application
from tests.conftest import ROOT, wait_until
from tests.integration.test_dead_letter_admin import (
    CHANGELIST,
    FAILED,
    OPERATOR_PERMS,
    logged_in,
    make_dead_letters,
    staff,
)

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

DEFAULT_RELAY_INTERVAL = 0.5


class RelayProcess:
    """``manage.py eventhub_relay`` without ``--interval``: the relay as ``./bin/run`` runs it."""

    def __init__(self, env: dict[str, str], log_path: Path) -> None:
        self.env = {k: v for k, v in env.items() if k != "EVENTHUB_RELAY_INTERVAL_SECONDS"}
        self.log_path = log_path
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> RelayProcess:
        self.process = subprocess.Popen(
            [sys.executable, "manage.py", "eventhub_relay"],
            cwd=ROOT,
            env=self.env,
            stdout=self.log_path.open("ab"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        wait_until(
            lambda: "relay: running" in self.log(),
            timeout=60,
            message="the relay to start",
        )
        return self

    def log(self) -> str:
        assert self.process and self.process.poll() is None, self.log_path.read_text()
        return self.log_path.read_text(errors="replace")

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            os.killpg(self.process.pid, 15)
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, 9)
                self.process.wait(10)


@pytest.fixture
def default_relay(worker_env: dict[str, str], tmp_path: Path) -> Iterator[RelayProcess]:
    # The default these tests are about: if it changes, so must their sizing.
    assert float(django_settings.EVENTHUB["RELAY_INTERVAL_SECONDS"]) == DEFAULT_RELAY_INTERVAL
    relay = RelayProcess(worker_env, tmp_path / "relay.log").start()
    yield relay
    relay.stop()


def start_batch(
    operator: Client, rate: int, settings: Any, selected: list[int] | None = None
) -> RetryBatch:
    """The admin's "retry all matching" on the failed subscriber's dead letters, or its
    "retry the selected" action on ``selected``."""
    settings.EVENTHUB = {**settings.EVENTHUB, "RETRY_RATE_PER_SECOND": rate}
    if selected is None:
        response = operator.post(
            f"{CHANGELIST}retry-matching/", {"query": f"subscriber__exact={FAILED}"}
        )
    else:
        response = operator.post(
            CHANGELIST, {"action": "retry_selected", "_selected_action": selected}
        )
    assert response.status_code == 302
    return RetryBatch.objects.latest("pk")


def requeue_times(batch: RetryBatch) -> list[float]:
    rows = Delivery.objects.filter(pk__in=batch.delivery_ids, retried_at__isnull=False)
    return sorted(t.timestamp() for t in rows.values_list("retried_at", flat=True))


def audited(batch: RetryBatch) -> set[int]:
    """Dead letters with a "Retried" entry of this batch in the admin log."""
    entries = LogEntry.objects.filter(
        content_type=ContentType.objects.get_for_model(Delivery),
        change_message=retried_message(batch),
    )
    return {int(pk) for pk in entries.values_list("object_id", flat=True)}


@pytest.mark.parametrize(("rate", "size"), [(1, 5), (2, 10), (50, 250), (200, 1000)])
def test_a_batch_runs_at_its_rate_with_the_default_relay_interval(
    rate, size, start_worker, default_relay, settings
):
    start_worker(concurrency=2)
    dead = make_dead_letters(size)
    operator = logged_in(staff("op", *OPERATOR_PERMS))
    batch = start_batch(operator, rate, settings)
    assert batch.total == size and batch.rate_per_second == rate

    wait_until(
        lambda: RetryBatch.objects.get(pk=batch.pk).finished_at,
        timeout=size / rate * 3 + 10,
        interval=0.2,
        message=f"the batch at {rate}/s to finish",
    )
    batch.refresh_from_db()
    assert (batch.status, batch.done, batch.requeued) == ("finished", size, size)
    times = requeue_times(batch)
    assert len(times) == size
    measured = (size - 1) / (times[-1] - times[0])
    assert abs(measured / rate - 1) <= 0.10, f"{measured:.2f}/s at {rate}/s"

    # Audit: one entry per dead letter requeued, by the operator who asked, and one for the
    # batch itself.
    assert audited(batch) == set(dead)
    assert LogEntry.objects.filter(user__username="op").count() == size + 1
    wait_until(
        lambda: (
            Delivery.objects.filter(pk__in=dead, status=Delivery.Status.SUCCEEDED).count() == size
        ),
        timeout=120,
        interval=0.2,
        message="every retried delivery to succeed",
    )


def test_two_relays_share_a_batch_at_its_rate_and_requeue_each_dead_letter_once(
    default_relay, worker_env, tmp_path, settings
):
    second = RelayProcess(worker_env, tmp_path / "relay-2.log").start()
    try:
        dead = make_dead_letters(250)
        operator = logged_in(staff("op", *OPERATOR_PERMS))
        batch = start_batch(operator, 50, settings)
        wait_until(
            lambda: RetryBatch.objects.get(pk=batch.pk).finished_at,
            timeout=40,
            interval=0.2,
            message="the batch to finish",
        )
    finally:
        second.stop()
    batch.refresh_from_db()
    assert (batch.done, batch.requeued) == (250, 250)
    times = requeue_times(batch)
    measured = 249 / (times[-1] - times[0])
    assert abs(measured / 50 - 1) <= 0.10, f"{measured:.2f}/s at 50/s"
    entries = LogEntry.objects.filter(change_message=retried_message(batch))
    assert entries.count() == 250 and audited(batch) == set(dead)  # each once


def test_a_restarted_relay_resumes_the_batch_without_a_burst(
    default_relay, worker_env, tmp_path, settings
):
    rate = 50
    make_dead_letters(300)
    operator = logged_in(staff("op", *OPERATOR_PERMS))
    batch = start_batch(operator, rate, settings)
    wait_until(lambda: done_of(batch) >= 50, timeout=30, message="50 requeued")
    default_relay.stop()
    stopped_at = done_of(batch)
    time.sleep(2)  # the relay is down for a while: 100 more dead letters come due meanwhile
    assert done_of(batch) == stopped_at
    relay = RelayProcess(worker_env, tmp_path / "relay-restarted.log").start()
    try:
        wait_until(
            lambda: RetryBatch.objects.get(pk=batch.pk).finished_at,
            timeout=40,
            interval=0.2,
            message="the batch to finish",
        )
    finally:
        relay.stop()
    times = requeue_times(batch)
    assert len(times) == 300
    busiest = max(sum(1 for t in times[i:] if t - s < 1.0) for i, s in enumerate(times))
    assert busiest <= rate * (1 + CATCH_UP_SECONDS) + 1, busiest


def done_of(batch: RetryBatch) -> int:
    return RetryBatch.objects.get(pk=batch.pk).done


def test_a_cancelled_batch_requeues_nothing_more_and_the_log_says_only_what_was_done(
    start_worker, default_relay, settings
):
    start_worker(concurrency=2)
    dead = make_dead_letters(20)
    operator = logged_in(staff("op", *OPERATOR_PERMS))
    batch = start_batch(operator, 2, settings)
    wait_until(
        lambda: RetryBatch.objects.get(pk=batch.pk).requeued >= 3,
        timeout=30,
        interval=0.1,
        message="the batch to requeue three",
    )

    page = operator.get(f"/admin/eventhub/retrybatch/{batch.pk}/change/").content.decode()
    assert "Cancel this batch" in page
    response = operator.post(f"/admin/eventhub/retrybatch/{batch.pk}/cancel/")
    assert response.status_code == 302
    batch.refresh_from_db()
    assert batch.status == "cancelled" and batch.cancelled_by.username == "op"
    cancelled_at = (batch.done, batch.requeued)
    assert 3 <= batch.done < 20

    # Until the relay has certainly made passes after the cancel (a later batch of other
    # dead letters has moved twice), and then: nothing more of the cancelled one.
    others = make_dead_letters(4, user_id="user-2")
    later = start_batch(operator, 2, settings, selected=others)
    assert set(later.delivery_ids) == set(others)
    wait_until(
        lambda: RetryBatch.objects.get(pk=later.pk).requeued >= 2,
        timeout=30,
        interval=0.1,
        message="the relay to carry on with a later batch",
    )
    batch.refresh_from_db()
    assert (batch.done, batch.requeued) == cancelled_at
    requeued = set(
        Delivery.objects.filter(pk__in=dead, retried_at__isnull=False).values_list("pk", flat=True)
    )
    assert len(requeued) == batch.requeued
    still_dead = Delivery.objects.filter(pk__in=dead, status=Delivery.Status.DEAD)
    assert still_dead.count() == 20 - batch.requeued

    # The log: each requeued dead letter once, none of those never requeued; the batch's
    # start and its cancel.
    assert audited(batch) == requeued
    batch_entries = LogEntry.objects.filter(
        content_type=ContentType.objects.get_for_model(RetryBatch), object_id=str(batch.pk)
    ).order_by("pk")
    assert [e.change_message.split(":")[0].split(" ")[0] for e in batch_entries] == [
        "Started",
        "Cancelled",
    ]
    assert all(e.user.username == "op" for e in batch_entries)

    # A second cancel changes nothing and says so.
    again = operator.post(f"/admin/eventhub/retrybatch/{batch.pk}/cancel/", follow=True)
    assert "no longer running" in again.content.decode()
    assert batch_entries.count() == 2


def test_cancel_is_refused_without_the_retry_permission(default_relay, settings):
    make_dead_letters(10)
    operator = logged_in(staff("op", *OPERATOR_PERMS))
    batch = start_batch(operator, 1, settings)
    viewer = logged_in(staff("viewer", "view_retrybatch", "view_deadletter"))

    page = viewer.get(f"/admin/eventhub/retrybatch/{batch.pk}/change/").content.decode()
    assert "Cancel this batch" not in page
    assert viewer.post(f"/admin/eventhub/retrybatch/{batch.pk}/cancel/").status_code == 403
    viewer.post(
        "/admin/eventhub/retrybatch/",
        {"action": "cancel_selected", "_selected_action": [batch.pk]},
    )
    assert RetryBatch.objects.get(pk=batch.pk).status == "running"
    assert operator.get(f"/admin/eventhub/retrybatch/{batch.pk}/cancel/").status_code == 405
    assert operator.post("/admin/eventhub/retrybatch/999999/cancel/").status_code == 404
    assert not LogEntry.objects.filter(change_message__startswith="Cancelled").exists()

    # The change list's action, for whoever may retry.
    response = operator.post(
        "/admin/eventhub/retrybatch/",
        {"action": "cancel_selected", "_selected_action": [batch.pk]},
    )
    assert response.status_code == 302
    assert RetryBatch.objects.get(pk=batch.pk).status == "cancelled"


def test_the_batch_page_reads_its_progress_live_from_a_staff_only_endpoint(default_relay, settings):
    make_dead_letters(8)
    operator = logged_in(staff("op", *OPERATOR_PERMS))
    batch = start_batch(operator, 2, settings)
    url = f"/admin/eventhub/retrybatch/{batch.pk}/progress.json"

    page = operator.get(f"/admin/eventhub/retrybatch/{batch.pk}/change/").content.decode()
    assert "admin-batch-progress.js" in page and f'data-url="{url}"' in page

    seen: list[int] = []

    def finished() -> bool:
        progress = operator.get(url).json()
        assert progress["total"] == 8 and progress["ratePerSecond"] == 2
        seen.append(progress["done"])
        return progress["status"] == "finished"

    wait_until(finished, timeout=30, interval=0.5, message="the batch to finish")
    assert len({done for done in seen if 0 < done < 8}) >= 3, seen  # it moved as we watched
    assert seen[-1] == 8

    assert Client().get(url).status_code == 302  # to the login page
    assert logged_in(staff("nobody")).get(url).status_code == 403
    assert operator.get("/admin/eventhub/retrybatch/999999/progress.json").status_code == 404


def test_the_dashboard_socket_pushes_batch_progress_while_it_runs(
    start_worker, default_relay, settings
):
    start_worker(concurrency=2)
    make_dead_letters(16)
    operator = logged_in(staff("op", *OPERATOR_PERMS))
    cookie = f"sessionid={operator.cookies['sessionid'].value}"
    headers = [
        (b"host", b"testserver"),
        (b"origin", b"http://testserver"),
        (b"cookie", cookie.encode()),
    ]

    async def watch(start: Callable[[], RetryBatch]) -> tuple[RetryBatch, list[tuple[float, dict]]]:
        communicator = WebsocketCommunicator(websocket_application(), "/ws/dashboard/", headers)
        connected, _ = await communicator.connect(timeout=10)
        assert connected
        assert (await communicator.receive_json_from(timeout=10))["type"] == "hello"
        await communicator.send_json_to({"type": "resume", "cursor": None})
        batch = await database_sync_to_async(start)()
        seen: list[tuple[float, dict]] = []
        deadline = time.monotonic() + 40
        try:
            while time.monotonic() < deadline:
                message = await communicator.receive_json_from(timeout=10)
                for b in message.get("retryBatches", []):
                    if b["id"] == batch.pk:
                        seen.append((time.monotonic(), b))
                if seen and seen[-1][1]["status"] == "finished":
                    break
        finally:
            await communicator.disconnect()
        return batch, seen

    batch, seen = async_to_sync(watch)(lambda: start_batch(operator, 2, settings))
    assert seen and seen[-1][1]["status"] == "finished", seen
    assert seen[-1][1]["done"] == seen[-1][1]["requeued"] == 16
    running = [b["done"] for _, b in seen if b["status"] == "running"]
    assert running == sorted(running)
    # Pushed as it moved (about every second over its 7.5 s), not only at the end.
    assert len({done for done in running if 0 < done < 16}) >= 4, running
