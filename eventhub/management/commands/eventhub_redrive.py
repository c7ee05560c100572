"""``manage.py eventhub_redrive``: redrive one subscriber over a time window.

    python manage.py eventhub_redrive --subscriber NAME --since T --until T
        --user NAME --reason TEXT [--status dead|all] [--rate N] [--dry-run] [--wait]

``dead`` (default) requeues the subscriber's dead letters of events recorded in
``[since, until)``; ``all`` sends every event of the window it receives again, as a new
delivery generation (replayable subscribers only). Times are ISO-8601. It runs as a retry
batch the relay carries out at ``--rate`` per second (eventhub/bus/redrives.py).
``--user`` and ``--reason`` are required unless ``--dry-run``, so every redrive is audited.
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError

from eventhub.bus.redrives import STATUSES, redrive_plan, redrive_start
from eventhub.bus.replays import ReplayRefused

from ._operator import add_operator_arguments, check_options, follow
from .eventhub_replay import _option

SHOWN = 50
"""Lines a dry run prints before it only counts."""


class Command(BaseCommand):
    help = "Redrive one subscriber over a time window: its dead letters, or every event again."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--subscriber", required=True)
        parser.add_argument("--since", required=True, help="ISO-8601 time, inclusive")
        parser.add_argument("--until", required=True, help="ISO-8601 time, exclusive")
        parser.add_argument("--status", default="dead", help=f"one of {', '.join(STATUSES)}")
        add_operator_arguments(parser)

    def handle(self, *args: Any, **options: Any) -> None:
        user_id = check_options(options)
        try:
            redrive = redrive_plan(
                subscriber=options["subscriber"],
                since=options["since"],
                until=options["until"],
                status=options["status"],
            )
            if options["dry_run"]:
                self._print(redrive)
                return
            batch = redrive_start(
                redrive,
                user_id=user_id,
                reason=options["reason"].strip(),
                rate=options["rate"],
            )
        except ReplayRefused as exc:
            raise CommandError(f"refused, nothing written: --{_option(exc)}") from exc
        self.stdout.write(
            f"{batch.kind} batch {batch.pk}: {redrive.describe()} at {batch.rate_per_second}/s"
        )
        if options["wait"]:
            follow(batch, self.stdout.write)

    def _print(self, redrive: Any) -> None:
        if redrive.status == "dead":
            lines = [f"would requeue dead letter {pk}" for pk in redrive.dead_letters]
        else:
            lines = [f"would send {item.describe()}" for item in redrive.replays]
        for line in lines[:SHOWN]:
            self.stdout.write(line)
        if len(lines) > SHOWN:
            self.stdout.write(f"... and {len(lines) - SHOWN} more")
        self.stdout.write(f"dry run: {redrive.describe()}; nothing written")
