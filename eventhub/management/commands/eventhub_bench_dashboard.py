"""``manage.py eventhub_bench_dashboard``: the live dashboard under a burst, printed as JSON;
see ``eventhub.devtools.bench.dashboard``."""

from __future__ import annotations

import json
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from eventhub.devtools.bench.dashboard import measure_dashboard


class Command(BaseCommand):
    help = "Measure the dashboard under a burst of events (latency, heap, DOM); prints JSON."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--rate", type=float, default=1000.0)
        parser.add_argument("--seconds", type=float, default=20.0)
        parser.add_argument("--flow-size", type=int, default=5)
        parser.add_argument("--batch", type=int, default=50)

    def handle(self, *args: Any, **options: Any) -> None:
        self.stdout.write(json.dumps(measure_dashboard(options), indent=2))
