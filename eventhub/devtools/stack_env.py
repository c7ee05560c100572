"""The environment ``runstack`` gives its children, written where ``bin/manage`` finds it.

An operator command (``eventhub_replay``, ``eventhub_redrive``) run beside the stack must
reach the same Redis (the embedded one has a password and a port chosen at start) and the
same database, or its live notices go nowhere. ``var/stack.env`` holds those settings as
shell assignments, mode 0600 (the Redis password is in it), and goes away on stop.
"""

from __future__ import annotations

import os
import shlex
from collections.abc import Mapping
from pathlib import Path

from django.conf import settings

SHARED = ("REDIS_URL", "DATABASE_URL", "CELERY_BROKER_URL", "CHANNEL_LAYER_URL")
"""What a command needs from the children's environment, when set."""


def stack_env_path() -> Path:
    return Path(settings.VAR_DIR) / "stack.env"


def write_stack_env(env: Mapping[str, str]) -> Path:
    """Write the settings a command needs (and the var dir) to ``var/stack.env``, 0600."""
    values = {name: env[name] for name in SHARED if env.get(name)}
    values["EVENTHUB_VAR_DIR"] = str(Path(settings.VAR_DIR).resolve())
    text = "".join(f"{name}={shlex.quote(value)}\n" for name, value in values.items())
    path = stack_env_path()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        os.fchmod(out.fileno(), 0o600)  # an older file may have had another mode
        out.write(text)
    return path


def remove_stack_env() -> None:
    stack_env_path().unlink(missing_ok=True)
