"""The benchmark's matrix (``manage.py eventhub_bench``, ``bin/bench``): throughput and latency
beside baselines, as JSON.

For each database (SQLite, PostgreSQL) and each tracing setting (on, off) it starts a fresh
Redis and runs one variant in a child process (``--variant``), whose environment names that
database, that Redis, ``OTEL_SDK_DISABLED`` and the bench plugin
(``eventhub.devtools.bench.plugin``). The child starts daphne, one Celery worker on every queue
and the relay, then measures each figure beside its baseline in the same stack (see
``eventhub.devtools.bench.phases``):

- orders: orders/s and deliveries/s end to end for orders placed over HTTP;
- http: ``POST /orders`` requests/s vs ``GET /healthz`` (bare view) and vs the naive peer's
  plain order view (``eventhub.devtools.bench.naive``), same daphne and client;
- drain: deliveries/s of ``bench.pinged`` to one no-op subscriber vs a no-op Celery task and
  vs the naive peer (a plain task per event doing 3 ORM writes in autocommit);
- latency: publish -> handler start vs the no-op task, at a quarter of the measured rate;
- websocket: publish -> receipt on N dashboard websockets at a steady event rate;
- rss: worker RSS (main + pool) before and after M deliveries.

The parent adds the tracing cost per database and a table of the issue's targets
(``eventhub.devtools.bench.targets``). Every
variant starts from an empty database: a fresh SQLite file, or a flushed PostgreSQL
database whose name must contain ``bench``.
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

import dj_database_url
import psycopg
from django.conf import settings
from django.core.management.base import CommandError

from ..process_groups import Stack
from ..stack_parts import manage_argv, start_redis
from .phases import PHASES, run_variant
from .stack import say
from .targets import targets, tracing_costs

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


def plan_from(options: dict[str, Any]) -> dict[str, Any]:
    """The counts each variant runs with: the preset's, unless the command names one."""
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


def run_matrix(plan: dict[str, Any], options: dict[str, Any]) -> dict[str, Any]:
    """Every database x variant, ``repeat`` times interleaved; figures, costs and targets."""
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
                say(
                    f"=== {database}, {variant}, run {round_}/{repeat} (load {os.getloadavg()}) ==="
                )
                var_dir = base / f"{database}-{variant}-{round_}"
                results.append(run_child(var_dir, database, variant, plan, options))
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
    var_dir: Path,
    database: str,
    variant: str,
    plan: dict[str, Any],
    options: dict[str, Any],
) -> dict[str, Any]:
    """One variant in a child process with a fresh var dir and Redis; its figures."""
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
            manage_argv("eventhub_bench", "--variant", json.dumps(plan)),
            cwd=settings.BASE_DIR,
            env=env,
            stdout=subprocess.PIPE,
            text=True,
        )
    finally:
        redis.stop()
    if child.returncode or not child.stdout.strip():
        say(f"{database}/{variant} failed; see {var_dir}/bench.log")
        return {"database": {"vendor": database}, "variant": variant, "error": child.returncode}
    result: dict[str, Any] = json.loads(child.stdout.strip().splitlines()[-1])
    return result


def variant_json(plan_json: str) -> str:
    """One variant, in this process (the child ``run_child`` starts): its figures as JSON."""
    log = Path(settings.VAR_DIR) / "bench.log"
    return json.dumps(run_variant(json.loads(plan_json), log))


def report_json(options: dict[str, Any]) -> str:
    """The whole matrix for the command's ``options``; written to ``--output`` as well."""
    report = run_matrix(plan_from(options), options)
    text = json.dumps(report, indent=2)
    if options["output"]:
        Path(options["output"]).write_text(text + "\n")
    return text
