"""``manage.py eventhub_burst``: publish probe events at a steady rate, in batches.

    python manage.py eventhub_burst --rate 1000 --seconds 20 --flow-size 5

Prints one JSON line with what it published and the rate it reached.
"""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

from django.core.management.base import BaseCommand

from eventhub.devtools.loadgen import probes_publish


class Command(BaseCommand):
    help = "Publish synthetic probe.sent events at a steady rate (for the live pages' benchmark)."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--rate", type=float, default=1000.0, help="events per second")
        parser.add_argument("--seconds", type=float, default=20.0)
        parser.add_argument("--count", type=int, default=0, help="stop after this many instead")
        parser.add_argument("--batch", type=int, default=50, help="events per transaction")
        parser.add_argument("--flow-size", type=int, default=5, help="events per correlation ID")
        parser.add_argument("--run-id", default="")

    def handle(self, *args: Any, **options: Any) -> None:
        rate, batch = options["rate"], max(1, options["batch"])
        total = options["count"] or int(rate * options["seconds"])
        run_id = options["run_id"] or f"burst-{uuid.uuid4().hex[:8]}"
        started = time.monotonic()
        published = 0
        positions: list[int] = []
        while published < total:
            due = started + published / rate
            delay = due - time.monotonic()
            if delay > 0:
                time.sleep(delay)  # pacing the publisher, not waiting for anything
            size = min(batch, total - published)
            positions += probes_publish(
                run_id=run_id, start=published, count=size, flow_size=options["flow_size"]
            )
            published += size
        elapsed = time.monotonic() - started
        summary = {
            "runId": run_id,
            "published": published,
            "seconds": round(elapsed, 3),
            "eventsPerSecond": round(published / elapsed, 1) if elapsed else None,
            "firstPosition": positions[0] if positions else None,
            "lastPosition": positions[-1] if positions else None,
        }
        self.stdout.write(json.dumps(summary))
