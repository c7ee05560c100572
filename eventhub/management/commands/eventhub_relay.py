"""``manage.py eventhub_relay``: dispatch undispatched, due and abandoned deliveries."""

import signal
import threading
from typing import Any

from django.core.management.base import BaseCommand

from eventhub.bus.relay import run_forever
from eventhub.metrics.pushed import push_database_readings
from eventhub.otel import configure


class Command(BaseCommand):
    help = "Run the outbox relay and retry scheduler until SIGINT/SIGTERM."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--interval", type=float, default=None, help="seconds between passes")

    def handle(self, *args: Any, interval: float | None = None, **options: Any) -> None:
        stop = threading.Event()
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, lambda *_: stop.set())
        configure("eventhub-relay")
        push_database_readings()  # one process pushes what the database counts (OTLP, if set)
        self.stdout.write("relay: running")
        run_forever(stop, interval)
        self.stdout.write("relay: stopped")
