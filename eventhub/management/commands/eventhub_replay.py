"""``manage.py eventhub_replay``: replay a flow's events to replayable subscribers.

    python manage.py eventhub_replay --correlation-id ID [--subscriber NAME ...]
        --user NAME --reason TEXT [--dry-run] [--rate N] [--wait]

The events go in recorded order, as a new delivery generation (eventhub/bus/replays.py),
through a batch the relay carries out at ``--rate`` per second. A subscriber that is not
replayable is refused by name and nothing is written; ``--dry-run`` prints what would be
sent (event, subscriber, generation) and writes nothing. ``--user`` and ``--reason`` are
required unless ``--dry-run``, so every replay is audited with who and why.
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError

from eventhub.bus.replays import ReplayRefused, flow_plan, replay_start

from ._operator import add_operator_arguments, check_options, follow


class Command(BaseCommand):
    help = "Replay a flow's events (correlation ID), in recorded order, to replayable subscribers."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--correlation-id", required=True, help="the flow to replay")
        parser.add_argument(
            "--subscriber",
            action="append",
            default=[],
            help="a subscriber to replay to (repeatable; default: every replayable one)",
        )
        add_operator_arguments(parser)

    def handle(self, *args: Any, **options: Any) -> None:
        cid = options["correlation_id"]
        user_id = check_options(options)
        try:
            items = flow_plan([cid], chosen=options["subscriber"])
            if options["dry_run"]:
                for item in items:
                    self.stdout.write(f"would send {item.describe()}")
                self.stdout.write(
                    f"dry run: {len(items)} deliveries would be sent; nothing written"
                )
                return
            batch = replay_start(
                items,
                user_id=user_id,
                reason=options["reason"].strip(),
                what=f"flow {cid}",
                rate=options["rate"],
            )
        except ReplayRefused as exc:
            raise CommandError(f"refused, nothing written: --{_option(exc)}") from exc
        self.stdout.write(
            f"replay batch {batch.pk}: {batch.total} deliveries of flow {cid} at "
            f"{batch.rate_per_second}/s, sent by the relay in recorded order"
        )
        if options["wait"]:
            follow(batch, self.stdout.write)


def _option(exc: ReplayRefused) -> str:
    """The refusal with its field as the command's option (``correlation-id``)."""
    field, _, rest = str(exc).partition(": ")
    return f"{field.replace('_', '-')}: {rest}"
