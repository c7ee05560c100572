"""``manage.py runstack`` (``./bin/run``): the whole stack on one machine; see
``eventhub.devtools.runstack``."""

from __future__ import annotations

import os
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from eventhub.devtools.runstack import run_stack


class Command(BaseCommand):
    help = "Start Redis (embedded unless REDIS_URL is set), daphne, a Celery worker and the relay."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--port",
            type=int,
            default=int(os.environ.get("PORT", "8000")),
            help="HTTP port of daphne on 127.0.0.1 (default: $PORT or 8000)",
        )
        parser.add_argument(
            "--concurrency", type=int, default=2, help="Celery worker processes (default 2)"
        )

    def handle(self, *args: Any, port: int, concurrency: int, **options: Any) -> None:
        run_stack(self.stdout, port=port, concurrency=concurrency)
