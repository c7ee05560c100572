"""``manage.py eventhub_burst``: publish probe events at a steady rate, in batches.

    python manage.py eventhub_burst --rate 1000 --seconds 20 --flow-size 5

Prints one JSON line with what it published and the rate it reached
(``eventhub.devtools.loadgen.burst``).
"""

from __future__ import annotations

import json
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from eventhub.devtools.loadgen import burst


class Command(BaseCommand):
    help = "Publish synthetic probe.sent events at a steady rate (for the live pages' benchmark)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--rate", type=float, default=1000.0, help="events per second")
        parser.add_argument("--seconds", type=float, default=20.0)
        parser.add_argument("--count", type=int, default=0, help="stop after this many instead")
        parser.add_argument("--batch", type=int, default=50, help="events per transaction")
        parser.add_argument("--flow-size", type=int, default=5, help="events per correlation ID")
        parser.add_argument("--run-id", default="")

    def handle(self, *args: Any, **options: Any) -> None:
        summary = burst(
            rate=options["rate"],
            total=options["count"] or int(options["rate"] * options["seconds"]),
            batch=max(1, options["batch"]),
            flow_size=options["flow_size"],
            run_id=options["run_id"],
        )
        self.stdout.write(json.dumps(summary))
