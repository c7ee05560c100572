"""Helpers for the browser tests: Debian's Chromium through Playwright, a login, a TCP proxy."""

from __future__ import annotations

import os
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from typing import Any

import pytest

from eventhub.devtools.browser import CHROMIUM, launch_chromium

STAFF_USERNAME = "staff"
STAFF_PASSWORD = "staff-password-1"


def require_chromium() -> None:
    """Skip without Chromium on a developer's machine; in CI a missing browser is a failure."""
    if os.path.exists(CHROMIUM):
        return
    if os.environ.get("CI"):
        pytest.fail(f"{CHROMIUM} is missing in CI (.ci/run installs Debian's chromium package)")
    pytest.skip(f"{CHROMIUM} is missing: apt-get install chromium to run the browser tests")


@contextmanager
def chromium() -> Iterator[Any]:
    """A headless Chromium. Playwright's sync API keeps an event loop in this thread, so
    Django's async-safety check is lifted while it runs (tests call the ORM in between)."""
    from playwright.sync_api import sync_playwright

    require_chromium()
    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    try:
        with sync_playwright() as playwright:
            browser = launch_chromium(playwright)
            try:
                yield browser
            finally:
                browser.close()
    finally:
        if previous is None:
            os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
        else:
            os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = previous


def staff_user() -> Any:
    from django.contrib.auth import get_user_model

    user, _ = get_user_model().objects.get_or_create(
        username=STAFF_USERNAME, defaults={"is_staff": True, "is_superuser": True}
    )
    # Set the password only when it differs: a new hash logs out the user's other sessions
    # (Django's session auth hash), and so closes their open dashboards' sockets.
    if not (user.is_staff and user.is_superuser and user.check_password(STAFF_PASSWORD)):
        user.is_staff = user.is_superuser = True
        user.set_password(STAFF_PASSWORD)
        user.save()
    return user


def log_in(page: Any, base_url: str, next_path: str = "/dashboard/") -> None:
    """Log in through the admin's login form, as an operator would."""
    staff_user()
    page.goto(f"{base_url}/admin/login/?next={next_path}")
    page.fill("#id_username", STAFF_USERNAME)
    page.fill("#id_password", STAFF_PASSWORD)
    page.click("input[type=submit]")
    page.wait_for_url(f"{base_url}{next_path}*")


def watch_dialogs(page: Any) -> list[str]:
    """Record (and dismiss) every alert/confirm/prompt: a script that ran would open one."""
    opened: list[str] = []

    def on_dialog(dialog: Any) -> None:
        opened.append(dialog.message)
        dialog.dismiss()

    page.on("dialog", on_dialog)
    return opened


class TcpProxy:
    """A TCP proxy in front of a web server whose connections a test can cut and restore."""

    def __init__(self, upstream_port: int) -> None:
        self.upstream_port = upstream_port
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.lock = threading.Lock()
        self.sockets: set[socket.socket] = set()
        self.cut_off = False
        self.closed = False
        threading.Thread(target=self._accept, name="proxy-accept", daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def cut(self) -> None:
        """Close every open connection and refuse new ones until restore()."""
        with self.lock:
            self.cut_off = True
            for sock in self.sockets:
                with suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
            self.sockets.clear()

    def restore(self) -> None:
        with self.lock:
            self.cut_off = False

    def close(self) -> None:
        self.closed = True
        self.cut()
        self.listener.close()

    def _accept(self) -> None:
        while not self.closed:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            with self.lock:
                if self.cut_off:
                    client.close()
                    continue
                try:
                    upstream = socket.create_connection(("127.0.0.1", self.upstream_port))
                except OSError:
                    client.close()
                    continue
                self.sockets |= {client, upstream}
            for src, dst in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(src, dst), daemon=True).start()

    def _pipe(self, src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for sock in (src, dst):
                with suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
            with self.lock:
                self.sockets.discard(src)
                self.sockets.discard(dst)
