"""The environment ``runstack`` gives its children, written where ``bin/manage`` finds it.

An operator command (``eventhub_replay``, ``eventhub_redrive``) run beside the stack must
reach the same Redis (the embedded one has a password and a port chosen at start) and the
same database, or its live notices go nowhere. ``var/stack.env`` holds those settings as
shell assignments, mode 0600 (the Redis password is in it), and goes away on stop.

A stack killed outright (SIGKILL, a crash of the machine) leaves the file behind, pointing
at a Redis that is gone. So it records the pid of the ``runstack`` that wrote it (the
supervisor), and ``read_stack_env`` (what ``bin/manage`` loads it with, through manage.py)
refuses a file whose runstack is no longer running, saying so, instead of letting a
command talk to a stack that is gone.
"""

from __future__ import annotations

import os
import shlex
from collections.abc import Mapping
from pathlib import Path

from django.conf import settings

PID = "EVENTHUB_STACK_PID"
"""The ``runstack`` process that wrote the file (it supervises the stack until it stops)."""
SHARED = ("REDIS_URL", "DATABASE_URL", "CELERY_BROKER_URL", "CHANNEL_LAYER_URL")
"""What a command needs from the children's environment, when set."""


def stack_env_path() -> Path:
    return Path(settings.VAR_DIR) / "stack.env"


def write_stack_env(env: Mapping[str, str]) -> Path:
    """Write the settings a command needs (and the var dir) to ``var/stack.env``, 0600."""
    values = {name: env[name] for name in SHARED if env.get(name)}
    values["EVENTHUB_VAR_DIR"] = str(Path(settings.VAR_DIR).resolve())
    values[PID] = str(os.getpid())
    text = "".join(f"{name}={shlex.quote(value)}\n" for name, value in values.items())
    path = stack_env_path()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        os.fchmod(out.fileno(), 0o600)  # an older file may have had another mode
        out.write(text)
    return path


def remove_stack_env() -> None:
    stack_env_path().unlink(missing_ok=True)


class StaleStackEnv(Exception):
    """``var/stack.env`` was left by a stack that is no longer running."""


def runstack_alive(pid: int) -> bool:
    """Whether ``pid`` is still a running ``runstack`` (not a process that took its pid)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, someone else's: not the stack this user started
        return False
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:  # no /proc (macOS): the pid is alive, which is all that can be told
        return True
    return b"runstack" in cmdline


def read_stack_env(path: Path) -> dict[str, str]:
    """The settings ``path`` holds ({} when there is none), for ``bin/manage``'s commands.

    StaleStackEnv when the ``runstack`` that wrote it is gone (killed, so it could not
    remove the file): its Redis and password are gone with it."""
    try:
        text = path.read_text()
    except FileNotFoundError:
        return {}
    values: dict[str, str] = {}
    for line in text.splitlines():
        name, sep, quoted = line.partition("=")
        if sep and name.strip():
            values[name.strip()] = "".join(shlex.split(quoted))
    pid = values.get(PID, "")
    if pid and not (pid.isdigit() and runstack_alive(int(pid))):
        raise StaleStackEnv(
            f"{path} is stale: the ./bin/run that wrote it (pid {pid}) is no longer running, "
            "so the Redis and settings it names are gone. Start the stack with ./bin/run "
            f"(it writes a new one), or delete {path} to run against the default settings."
        )
    return values
