"""``manage.py eventhub_bench`` (``bin/bench``): the bus against its baselines, as JSON; see
``eventhub.devtools.bench.matrix``."""

from __future__ import annotations

import argparse
import os
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from eventhub.devtools.bench.matrix import DEFAULT_POSTGRES_URL, report_json, variant_json
from eventhub.devtools.bench.phases import PHASES


class Command(BaseCommand):
    help = "Benchmark the bus against its baselines (tracing on/off, SQLite/PostgreSQL); JSON."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--quick", action="store_true", help="small counts: about a minute per variant"
        )
        parser.add_argument(
            "--databases", default="sqlite,postgres", help="sqlite, postgres or both (default)"
        )
        parser.add_argument(
            "--postgres-url",
            default=os.environ.get("BENCH_DATABASE_URL", DEFAULT_POSTGRES_URL),
            help=f"a scratch database whose name contains 'bench' (default {DEFAULT_POSTGRES_URL})",
        )
        parser.add_argument("--variants", default="tracing-on,tracing-off")
        parser.add_argument("--phases", default=",".join(PHASES), help=",".join(PHASES))
        parser.add_argument("--concurrency", type=int, default=2, help="worker processes")
        parser.add_argument(
            "--conn-max-age",
            type=int,
            help="DATABASE_CONN_MAX_AGE for every process (default: as configured, else 0)",
        )
        parser.add_argument("--clients", type=int, default=8, help="HTTP client connections")
        parser.add_argument("--orders", type=int, help="orders placed end to end")
        parser.add_argument("--http-requests", type=int, help="POST /orders, workers paused")
        parser.add_argument("--healthz-requests", type=int, help="GET /healthz")
        parser.add_argument("--deliveries", type=int, help="events (and no-op tasks) drained")
        parser.add_argument("--publish-batch", type=int, default=100, help="events per commit")
        parser.add_argument(
            "--latency-rate", type=float, default=0.0, help="default: 1/4 of measured deliveries/s"
        )
        parser.add_argument("--latency-seconds", type=float)
        parser.add_argument("--ws-clients", type=int, default=10)
        parser.add_argument("--ws-rate", type=float, default=1000.0, help="events/s")
        parser.add_argument("--ws-seconds", type=float)
        parser.add_argument("--ws-batch", type=int, default=10, help="events per commit")
        parser.add_argument("--rss-deliveries", type=int, help="0 skips the RSS phase")
        parser.add_argument(
            "--repeat",
            type=int,
            default=1,
            help="run the whole matrix N times, interleaved, and report each figure's median "
            "(on a shared machine, runs minutes apart differ by 10-20%%)",
        )
        parser.add_argument("--output", help="also write the JSON to this file")
        parser.add_argument("--variant", help=argparse.SUPPRESS)  # internal: one variant

    def handle(self, *args: Any, **options: Any) -> None:
        if options["variant"]:
            self.stdout.write(variant_json(options["variant"]))
        else:
            self.stdout.write(report_json(options))
