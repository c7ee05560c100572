"""What the operator commands share: who is acting (for the audit log) and following a batch."""

from __future__ import annotations

import time
from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import CommandError

from eventhub.bus.reasons import reason_problem
from eventhub.bus.replays import ReplayRefused, check_rate
from eventhub.models import RetryBatch


def add_operator_arguments(parser: Any) -> None:
    """What every batch-making operator command takes: dry run, rate, who, why, follow."""
    parser.add_argument("--dry-run", action="store_true", help="print, send nothing")
    parser.add_argument("--rate", type=int, default=None, help="deliveries per second")
    parser.add_argument(
        "--reason", default="", help="why, for the audit log (required unless --dry-run)"
    )
    parser.add_argument(
        "--user",
        default="",
        help="who, for the audit log: a username (required unless --dry-run)",
    )
    parser.add_argument("--wait", action="store_true", help="follow the batch to its end")


def check_options(options: dict[str, Any]) -> int | None:
    """Refuse bad options before anything runs, dry run or not, naming the option.

    A real replay or redrive must say who and why: the admin LogEntry needs a user and
    ``requested_by`` would otherwise be empty (the dashboard refuses a missing reason
    too). A dry run writes nothing, so it needs neither, but its ``--rate`` must still be
    valid so the preview does not promise a run that would be refused. Returns the acting
    user's id (None for a dry run without ``--user``).
    """
    if options["rate"] is not None:
        try:
            check_rate(options["rate"])
        except ReplayRefused as exc:
            raise CommandError(f"refused, nothing written: --{exc}") from exc
    checked_reason(options["reason"])
    if not options["dry_run"]:
        for name in ("user", "reason"):
            if not (options[name] or "").strip():
                raise CommandError(
                    f"--{name} is required (who and why, for the audit log), "
                    "unless --dry-run; nothing written"
                )
    return acting_user_id(options["user"])


def checked_reason(reason: str | None) -> str:
    """``--reason``, refused by name when it is not one line of plain text (bus/reasons.py)."""
    problem = reason_problem(reason or "")
    if problem is not None:
        raise CommandError(f"refused, nothing written: --reason: {problem}")
    return reason or ""


def required_user_id(username: str | None) -> int:
    """The user named by a required ``--user``: a blank one is refused like a missing one
    (an action without a user would leave no admin log entry)."""
    user_id = acting_user_id((username or "").strip())
    if user_id is None:
        raise CommandError("--user is required (who, for the audit log); nothing written")
    return user_id


def acting_user_id(username: str | None) -> int | None:
    """The user named by ``--user`` (the audit log's "who"); None when not given."""
    if not username:
        return None
    user = get_user_model()._default_manager.filter(username=username).first()
    if user is None:
        raise CommandError(f"--user: no user named {username!r}; nothing written")
    return user.pk


def follow(batch: RetryBatch, write: Any, *, poll_seconds: float = 0.5) -> RetryBatch:
    """Print the batch's progress until it finishes (the relay carries it out)."""
    shown = None
    while True:
        batch.refresh_from_db()
        state = (batch.done, batch.requeued, batch.status)
        if state != shown:
            write(f"batch {batch.pk}: {batch.done}/{batch.total} handled, "
                  f"{batch.requeued} sent ({batch.status})")  # fmt: skip
            shown = state
        if batch.finished_at:
            return batch
        time.sleep(poll_seconds)
