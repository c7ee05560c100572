"""Debian's Chromium, headless, as every browser run of the project launches it: the
dashboard benchmark, the browser tests (``tests/e2e``) and the README's screenshots.

The flags turn off what a headless run on a build machine has no use for and what would
reach out to the network (sync, component updates, background requests, QUIC);
``--no-sandbox`` because the runs are as root in a container.
"""

from __future__ import annotations

from typing import Any

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def launch_chromium(playwright: Any) -> Any:
    """A headless Chromium browser from Playwright's sync API (``sync_playwright()``)."""
    return playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
