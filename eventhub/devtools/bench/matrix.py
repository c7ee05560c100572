"""``manage.py eventhub_bench`` (``bin/bench``): throughput and latency beside baselines, as JSON.

For each database (SQLite, PostgreSQL) and each tracing setting (on, off) it starts a fresh
Redis and runs one variant in a child process (``--variant``), whose environment names that
database, that Redis, ``OTEL_SDK_DISABLED`` and the bench plugin (``eventhub.devtools.bench.plugin``).
The child starts daphne, one Celery worker on every queue and the relay, then measures each
figure beside its baseline in the same stack (see ``eventhub.devtools.bench.phases``):

- orders: orders/s and deliveries/s end to end for orders placed over HTTP;
- http: ``POST /orders`` requests/s vs ``GET /healthz`` (bare view) and vs the naive peer's
  plain order view (``eventhub.devtools.bench.naive``), same daphne and client;
- drain: deliveries/s of ``bench.pinged`` to one no-op subscriber vs a no-op Celery task and
  vs the naive peer (a plain task per event doing 3 ORM writes in autocommit);
- latency: publish -> handler start vs the no-op task, at a quarter of the measured rate;
- websocket: publish -> receipt on N dashboard websockets at a steady event rate;
- rss: worker RSS (main + pool) before and after M deliveries.

The parent adds the tracing cost per database and a table of the issue's targets. Every
variant starts from an empty database: a fresh SQLite file, or a flushed PostgreSQL
database whose name must contain ``bench``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from eventhub.devtools.bench.phases import PHASES
from eventhub.devtools.bench.stats import cost, dig, variant_name
from eventhub.devtools.bench.stats import ratio as _ratio
from eventhub.devtools.runstack import Stack, start_redis

DEFAULT_POSTGRES_URL = "postgres://postgres@127.0.0.1:5432/bench"
PLUGIN = "eventhub.devtools.bench.plugin"
URLCONF = "eventhub.devtools.bench.urls"
"""The system's URLs plus the naive peer's order view (EVENTHUB_ROOT_URLCONF)."""
TRACING = {"tracing-on": "false", "tracing-off": "true"}  # -> OTEL_SDK_DISABLED
PRESETS: dict[str, dict[str, Any]] = {
    "full": {  # about 3 minutes per variant on 2 CPUs, 12 for the four
        "orders": 150,
        "http_requests": 150,
        "healthz_requests": 2000,
        "deliveries": 2000,
        "latency_seconds": 10.0,
        "ws_seconds": 10.0,
        "rss_deliveries": 2000,
    },
    "quick": {
        "orders": 40,
        "http_requests": 40,
        "healthz_requests": 500,
        "deliveries": 1000,
        "latency_seconds": 4.0,
        "ws_seconds": 4.0,
        "rss_deliveries": 1000,
    },
}

TRACING_INFORMATIVE = {
    "noop_per_s",
    "cpu_noop",
    "healthz_per_s",
    "cpu_healthz",
    "order_deliveries_per_s",
}
"""Tracing costs reported but not held to the target: the baselines' own (a no-op task, the
bare view, whose ~2.5 ms make a request span's fixed cost look large) and a duplicate (the
deliveries of the orders phase move with its orders/s)."""

TARGETS = {
    "deliveries_vs_noop": 0.6,
    "deliveries_vs_naive": 1.0,
    "saga_deliveries_vs_noop": 0.4,
    "post_orders_vs_naive": 0.8,
    "cpu_per_delivery_vs_noop": 1.5,
    "latency_p99_over_noop_ms": 10.0,
    "websocket_p99_ms": 150.0,
    "post_orders_vs_bare": 0.7,
    "tracing_cost": 0.10,
    "rss_growth": 0.05,
}


def machine() -> dict[str, Any]:
    cpu = "unknown"
    with open("/proc/cpuinfo") as info:
        for line in info:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    memory_kb = 0
    with open("/proc/meminfo") as info:
        for line in info:
            if line.startswith("MemTotal:"):
                memory_kb = int(line.split()[1])
    return {
        "nproc": os.cpu_count(),
        "cpu_model": cpu,
        "memory_gib": round(memory_kb / 2**20, 1),
        "python": platform.python_version(),
        "kernel": platform.release(),
        "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
    }


def _target(
    name: str, variant: str, measured: float | None, limit: float, *, at_most: bool
) -> dict[str, Any]:
    met = None if measured is None else (measured <= limit if at_most else measured >= limit)
    return {
        "target": name,
        "variant": variant,
        "measured": measured,
        "limit": f"{'<=' if at_most else '>='} {limit}",
        "met": met,
    }


def _per_cpu(milliseconds: float | None) -> float | None:
    return 1000 / milliseconds if milliseconds else None


def tracing_costs(results: list[dict[str, Any]]) -> dict[str, dict[str, float | None]]:
    """Per database: the share of each throughput that turning tracing on costs.

    ``cpu_*`` figures compare CPU time per operation instead of wall-clock rates (as the rate
    a CPU-bound process would reach), which another tenant's load disturbs far less.
    """
    cpu_figures = {
        "cpu_deliveries": ("drain", "worker_cpu_ms_each", "deliveries"),
        "cpu_noop": ("drain", "worker_cpu_ms_each", "noop"),
        "cpu_post_orders": ("http", "web_cpu_ms_per_request", "post_orders"),
        "cpu_healthz": ("http", "web_cpu_ms_per_request", "healthz"),
    }
    figures = {
        "deliveries_per_s": ("drain", "deliveries_per_s"),
        "noop_per_s": ("drain", "noop_per_s"),
        "orders_per_s": ("orders", "orders_per_s"),
        "order_deliveries_per_s": ("orders", "deliveries_per_s"),
        "post_orders_per_s": ("http", "post_orders_per_s"),
        "healthz_per_s": ("http", "healthz_per_s"),
    }
    costs: dict[str, dict[str, float | None]] = {}
    results = [r for r in results if "error" not in r]
    for vendor in dict.fromkeys(r["database"]["vendor"] for r in results):
        on = [r for r in results if r["database"]["vendor"] == vendor and r["tracing"]]
        off = [r for r in results if r["database"]["vendor"] == vendor and not r["tracing"]]
        if on and off:
            costs[vendor] = {
                name: cost(dig(on[0], *path), dig(off[0], *path)) for name, path in figures.items()
            } | {
                name: cost(_per_cpu(dig(on[0], *path)), _per_cpu(dig(off[0], *path)))
                for name, path in cpu_figures.items()
            }
    return costs


def targets(results: list[dict[str, Any]], costs: dict[str, Any]) -> list[dict[str, Any]]:
    rows = []
    for r in results:
        if "error" in r:
            continue
        name = variant_name(r)
        rows += [
            _target(
                "deliveries/s >= 0.6 x no-op drain",
                name,
                dig(r, "drain", "ratio"),
                TARGETS["deliveries_vs_noop"],
                at_most=False,
            ),
            _target(
                "deliveries/s >= 1.0 x naive peer",
                name,
                dig(r, "drain", "ratio_naive"),
                TARGETS["deliveries_vs_naive"],
                at_most=False,
            ),
            _target(
                "saga deliveries/s >= 0.4 x no-op drain",
                name,
                _ratio(dig(r, "orders", "deliveries_per_s"), dig(r, "drain", "noop_per_s")),
                TARGETS["saga_deliveries_vs_noop"],
                at_most=False,
            ),
            _target(
                "worker CPU per delivery <= 1.5 x no-op task",
                name,
                dig(r, "drain", "cpu_ratio_noop"),
                TARGETS["cpu_per_delivery_vs_noop"],
                at_most=True,
            ),
            _target(
                "publish->handler-start p99 <= no-op p99 + 10 ms",
                name,
                dig(r, "latency", "p99_over_noop_ms"),
                TARGETS["latency_p99_over_noop_ms"],
                at_most=True,
            ),
            _target(
                "publish->websocket p99 <= 150 ms",
                name,
                dig(r, "websocket", "latency_ms", "p99"),
                TARGETS["websocket_p99_ms"],
                at_most=True,
            ),
            _target(
                "POST /orders >= 0.7 x bare view",
                name,
                dig(r, "http", "ratio"),
                TARGETS["post_orders_vs_bare"],
                at_most=False,
            ),
            _target(
                "POST /orders >= 0.8 x naive peer view",
                name,
                dig(r, "http", "ratio_naive"),
                TARGETS["post_orders_vs_naive"],
                at_most=False,
            ),
            _target(
                "worker RSS growth <= 5%",
                name,
                dig(r, "rss", "growth"),
                TARGETS["rss_growth"],
                at_most=True,
            ),
        ]
    for vendor, figures in costs.items():
        for figure, value in figures.items():
            if figure in TRACING_INFORMATIVE:
                continue
            rows.append(
                _target(
                    f"tracing cost <= 10% ({figure})",
                    vendor,
                    value,
                    TARGETS["tracing_cost"],
                    at_most=True,
                )
            )
    return [row for row in rows if row["measured"] is not None]


def median_of(results: list[dict[str, Any]]) -> dict[str, Any]:
    """One result whose every number is the median of that number over ``results``.

    Lists and strings come from the first result; a failed run is left out. Ratios are
    medians of the runs' ratios, not ratios of medians.
    """
    ok = [r for r in results if "error" not in r]
    if not ok:
        return results[0]

    def merge(values: list[Any]) -> Any:
        first = values[0]
        if isinstance(first, dict):
            keys = [k for k in first if all(isinstance(v, dict) and k in v for v in values)]
            return {k: merge([v[k] for v in values]) for k in keys}
        numbers = [v for v in values if isinstance(v, int | float) and not isinstance(v, bool)]
        if numbers and len(numbers) == len(values):
            middle = statistics.median(numbers)
            return round(middle, 4) if isinstance(middle, float) else middle
        return first

    merged: dict[str, Any] = merge(ok)
    merged["runs_merged"] = len(ok)
    return merged


def ensure_postgres_database(url: str) -> None:
    """CREATE DATABASE when it is missing (the server must be up)."""
    import dj_database_url
    import psycopg

    config = dj_database_url.parse(url)
    name = config["NAME"]
    params = {
        "host": config.get("HOST") or None,
        "port": config.get("PORT") or None,
        "user": config.get("USER") or None,
        "password": config.get("PASSWORD") or None,
        "dbname": "postgres",
        "autocommit": True,
    }
    try:
        with psycopg.connect(**{k: v for k, v in params.items() if v is not None}) as conn:
            exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone()
            if not exists:
                conn.execute(f'CREATE DATABASE "{name}"')
    except psycopg.Error as exc:
        raise CommandError(f"PostgreSQL at {url} is not usable: {exc}") from exc


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
            from eventhub.devtools.bench.phases import run_variant

            plan = json.loads(options["variant"])
            log = Path(settings.VAR_DIR) / "bench.log"
            self.stdout.write(json.dumps(run_variant(plan, log)))
            return
        plan = self.plan(options)
        report = self.run_matrix(plan, options)
        text = json.dumps(report, indent=2)
        if options["output"]:
            Path(options["output"]).write_text(text + "\n")
        self.stdout.write(text)

    def plan(self, options: dict[str, Any]) -> dict[str, Any]:
        preset = PRESETS["quick" if options["quick"] else "full"]
        plan = {key: options[key] if options[key] is not None else preset[key] for key in preset}
        phases = [p.strip() for p in options["phases"].split(",") if p.strip()]
        if unknown := set(phases) - set(PHASES):
            raise CommandError(f"unknown phases: {', '.join(sorted(unknown))}")
        for name in options["variants"].split(","):
            if name not in TRACING:
                raise CommandError(f"unknown variant {name!r}: use {', '.join(TRACING)}")
        plan.update(
            phases=phases,
            concurrency=options["concurrency"],
            clients=options["clients"],
            publish_batch=options["publish_batch"],
            latency_rate=options["latency_rate"],
            ws_clients=options["ws_clients"],
            ws_rate=options["ws_rate"],
            ws_batch=options["ws_batch"],
            repeat=max(1, options["repeat"]),
        )
        return plan

    def run_matrix(self, plan: dict[str, Any], options: dict[str, Any]) -> dict[str, Any]:
        databases = [d.strip() for d in options["databases"].split(",") if d.strip()]
        if unknown := set(databases) - {"sqlite", "postgres"}:
            raise CommandError(f"unknown databases: {', '.join(sorted(unknown))}")
        if "postgres" in databases:
            ensure_postgres_database(options["postgres_url"])
        base = Path(tempfile.mkdtemp(prefix="bench-", dir=settings.VAR_DIR))
        started = time.monotonic()
        report: dict[str, Any] = {"machine": machine(), "plan": plan, "logs": str(base)}
        runs: list[list[dict[str, Any]]] = []
        repeat = plan["repeat"]
        for round_ in range(1, repeat + 1):
            results = []
            for database in databases:
                for variant in options["variants"].split(","):
                    self.stderr.write(
                        f"bench | === {database}, {variant}, run {round_}/{repeat} "
                        f"(load {os.getloadavg()}) ==="
                    )
                    var_dir = base / f"{database}-{variant}-{round_}"
                    results.append(self.run_child(var_dir, database, variant, plan, options))
            runs.append(results)
        if repeat > 1:
            report["runs"] = runs
            results = [median_of([run[i] for run in runs]) for i in range(len(runs[0]))]
        costs = tracing_costs(results)
        report.update(
            variants=results,
            tracing_cost=costs,
            targets=targets(results, costs),
            wall_seconds=round(time.monotonic() - started, 1),
        )
        return report

    def run_child(
        self,
        var_dir: Path,
        database: str,
        variant: str,
        plan: dict[str, Any],
        options: dict[str, Any],
    ) -> dict[str, Any]:
        var_dir.mkdir(parents=True)
        env = dict(os.environ)
        plugins = [p for p in env.get("EVENTHUB_PLUGINS", "").split(",") if p.strip()]
        env.update(
            EVENTHUB_VAR_DIR=str(var_dir),
            OTEL_SDK_DISABLED=TRACING[variant],
            EVENTHUB_PLUGINS=",".join([*plugins, PLUGIN] if PLUGIN not in plugins else plugins),
            EVENTHUB_ROOT_URLCONF=URLCONF,
            PYTHONUNBUFFERED="1",
        )
        if options["conn_max_age"] is not None:
            env["DATABASE_CONN_MAX_AGE"] = str(options["conn_max_age"])
        if database == "postgres":
            env["DATABASE_URL"] = options["postgres_url"]
        else:
            env.pop("DATABASE_URL", None)
        redis = Stack(out=(var_dir / "redis.log").open("a"))
        try:
            if not os.environ.get("REDIS_URL"):
                env["REDIS_URL"] = start_redis(redis)
            child = subprocess.run(
                [sys.executable, str(Path(settings.BASE_DIR) / "manage.py"), "eventhub_bench",
                 "--variant", json.dumps(plan)],
                cwd=settings.BASE_DIR,
                env=env,
                stdout=subprocess.PIPE,
                text=True,
            )  # fmt: skip
        finally:
            redis.stop()
        if child.returncode or not child.stdout.strip():
            self.stderr.write(f"bench | {database}/{variant} failed; see {var_dir}/bench.log")
            return {"database": {"vendor": database}, "variant": variant, "error": child.returncode}
        result: dict[str, Any] = json.loads(child.stdout.strip().splitlines()[-1])
        return result
