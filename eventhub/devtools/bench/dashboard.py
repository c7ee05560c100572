"""The live dashboard under a burst (``manage.py eventhub_bench_dashboard``), as JSON.

Starts Redis (unless REDIS_URL is set) and daphne like ``runstack`` does, opens
``/dashboard/`` as staff in headless Chromium (Playwright, a dev dependency; Debian's
``/usr/bin/chromium``), then publishes ``--rate`` probe events per second for ``--seconds``
from a separate ``eventhub_burst`` process. It reports:

- publish -> browser latency (event timestamp to the websocket batch arriving) and
  publish -> rendered latency (to the animation frame that drew it): p50, p90, p99, max;
- the page's JS heap before and after (CDP ``Performance.getMetrics``, after a forced GC);
- DOM node counts sampled every second, and how far behind the page's cursor was.

Run it on a scratch database (``EVENTHUB_VAR_DIR=$(mktemp -d)``): probes stay in the store.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import time
from pathlib import Path
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connections

from ..browser import CHROMIUM, launch_chromium
from ..process_groups import Stack
from ..readiness import HOST, free_port, wait_for_http
from ..stack_parts import manage_argv, start_redis, web_argv

BENCH_USER = "bench-staff"


def percentiles(samples: list[float]) -> dict[str, float | None]:
    if not samples:
        return {"count": 0, "p50": None, "p90": None, "p99": None, "max": None}
    ordered = sorted(samples)

    def at(q: float) -> float:
        return round(ordered[min(len(ordered) - 1, int(len(ordered) * q))], 1)

    return {
        "count": len(ordered),
        "p50": round(statistics.median(ordered), 1),
        "p90": at(0.90),
        "p99": at(0.99),
        "max": round(ordered[-1], 1),
    }


def heap(cdp: Any, *, collect: bool) -> dict[str, float]:
    if collect:
        cdp.send("HeapProfiler.collectGarbage")
    metrics = {m["name"]: m["value"] for m in cdp.send("Performance.getMetrics")["metrics"]}
    return {
        "jsHeapUsedMB": round(metrics["JSHeapUsedSize"] / 2**20, 2),
        "jsHeapTotalMB": round(metrics["JSHeapTotalSize"] / 2**20, 2),
        "domNodes": int(metrics["Nodes"]),
    }


def measure_dashboard(options: dict[str, Any]) -> dict[str, Any]:
    """Start Redis and daphne, log in as staff in Chromium, burst, measure; the figures.

    ``options``: ``rate`` (events/s), ``seconds``, ``flow_size`` and ``batch`` of the burst.
    """
    try:  # deferred: Playwright is a dev dependency; without it, say what to install
        from playwright.sync_api import sync_playwright
    except ImportError as exc:
        raise CommandError("needs the dev dependencies: pip install -e '.[dev]'") from exc
    if not os.path.exists(CHROMIUM):
        raise CommandError(f"{CHROMIUM} is missing: apt-get install chromium")
    call_command("migrate", interactive=False, verbosity=0)
    password = os.urandom(12).hex()
    user, _ = get_user_model().objects.get_or_create(username=BENCH_USER)
    user.is_staff = user.is_superuser = True
    user.set_password(password)
    user.save()
    connections.close_all()

    stack = Stack(out=(Path(settings.VAR_DIR) / "bench-dashboard.log").open("a"))
    try:
        if not os.environ.get("REDIS_URL"):
            stack.env["REDIS_URL"] = start_redis(stack)
        port = free_port()
        stack.start("web", web_argv(port))
        wait_for_http(stack, port)
        with sync_playwright() as playwright:
            browser = launch_chromium(playwright)
            report = measure(browser, stack, f"http://{HOST}:{port}", password, options)
            browser.close()
    finally:
        stack.stop()
    db = settings.DATABASES["default"]["ENGINE"].rsplit(".", 1)[-1]
    return {"database": db, "cpus": os.cpu_count(), **report}


CATCH_UP_SECONDS = 60.0


def wait_for_cursor(page: Any, position: int) -> None:
    """Until the page's cursor reaches ``position``, polled from here: the dashboard's CSP
    (``script-src 'self'``) refuses the string evaluation of ``page.wait_for_function``."""
    deadline = time.monotonic() + CATCH_UP_SECONDS
    while page.evaluate("Number(document.getElementById('c-cursor').textContent)") < position:
        if time.monotonic() > deadline:
            raise CommandError(f"the cursor did not reach {position} in {CATCH_UP_SECONDS:.0f} s")
        page.wait_for_timeout(20)  # the polling interval


def measure(
    browser: Any, stack: Stack, base: str, password: str, options: dict[str, Any]
) -> dict[str, Any]:
    page = browser.new_context(viewport={"width": 1400, "height": 900}).new_page()
    page.set_default_timeout(60_000)
    page.goto(f"{base}/admin/login/?next=/dashboard/")
    page.fill("#id_username", BENCH_USER)
    page.fill("#id_password", password)
    page.click("input[type=submit]")
    page.wait_for_url(f"{base}/dashboard/")
    page.wait_for_selector('#conn[data-state="live"]')
    cdp = page.context.new_cdp_session(page)
    cdp.send("Performance.enable")
    before = heap(cdp, collect=True)

    burst = subprocess.Popen(
        manage_argv(
            "eventhub_burst",
            *("--rate", str(options["rate"]), "--seconds", str(options["seconds"])),
            *("--flow-size", str(options["flow_size"]), "--batch", str(options["batch"])),
        ),
        env=stack.env,
        stdout=subprocess.PIPE,
    )
    samples = []
    while burst.poll() is None:
        samples.append(
            page.evaluate(
                "({nodes: document.getElementsByTagName('*').length,"
                " flows: document.querySelectorAll('.flow').length,"
                " received: window.__eventhubMetrics.received})"
            )
        )
        time.sleep(1.0)  # sampling interval
    published = json.loads(burst.stdout.read() or b"{}")
    if burst.returncode:
        raise CommandError(f"eventhub_burst failed with {burst.returncode}")
    caught_up = time.monotonic()
    last = published["lastPosition"]
    wait_for_cursor(page, last)
    catch_up_seconds = time.monotonic() - caught_up
    page.wait_for_timeout(1000)  # let the last frames render before reading the figures
    metrics = page.evaluate("window.__eventhubMetrics")
    after = heap(cdp, collect=False)
    after_gc = heap(cdp, collect=True)
    return {
        "burst": published,
        "latencyMs": {
            "publishToBrowser": percentiles(metrics["latencies"]),
            "publishToRendered": percentiles(metrics["renderLatencies"]),
        },
        "heap": {"before": before, "after": after, "afterGc": after_gc},
        "dom": {
            "maxElements": max((s["nodes"] for s in samples), default=0),
            "maxFlowRows": max((s["flows"] for s in samples), default=0),
            "elementsPerSecond": [s["nodes"] for s in samples],
        },
        "renders": metrics["renders"],
        "eventsReceived": metrics["received"],
        "catchUpAfterBurstSeconds": round(catch_up_seconds, 2),
    }
