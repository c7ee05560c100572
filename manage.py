#!/usr/bin/env python
"""Django's command-line utility for administrative tasks."""

import os
import sys
from pathlib import Path


def load_stack_env() -> None:
    """``bin/manage`` names ``var/stack.env`` in EVENTHUB_STACK_ENV: the running stack's
    settings (Redis, database), loaded before Django reads any, or a clear stop when the
    stack that wrote the file is gone (eventhub/devtools/stack_env.py)."""
    path = os.environ.pop("EVENTHUB_STACK_ENV", "")
    if not path:
        return
    from eventhub.devtools.stack_env import StaleStackEnv, read_stack_env

    try:
        os.environ.update(read_stack_env(Path(path)))
    except StaleStackEnv as exc:
        sys.exit(f"./bin/manage: {exc}")


def main() -> None:
    load_stack_env()
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "eventhub.settings")
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)


if __name__ == "__main__":
    main()
