"""``manage.py eventhub_pause NAME --user U [--reason R]``: hold a subscriber's deliveries.

``--user`` is required: every pause is an entry in the admin log, with who paused and why."""

from typing import Any

from django.core.management.base import BaseCommand, CommandError

from eventhub.bus.pauses import PauseError, subscriber_pause

from ._operator import checked_reason, required_user_id


class Command(BaseCommand):
    help = (
        "Pause a subscriber: its events are still recorded, its deliveries are held (not "
        "dispatched, not attempted) until eventhub_resume. Survives restarts."
    )

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument(
            "--user",
            required=True,
            help="the operator's username (required: the pause is an entry in the admin log)",
        )
        parser.add_argument("name", help="the subscriber, e.g. notifications.order_confirmation")
        parser.add_argument("--reason", default="", help="why (kept with the pause)")

    def handle(self, *args: Any, name: str, reason: str, user: str | None, **options: Any) -> None:
        try:
            outcome = subscriber_pause(
                name=name, user_id=required_user_id(user), reason=checked_reason(reason)
            )
        except PauseError as exc:
            raise CommandError(str(exc)) from exc
        pause = outcome.pause
        if not outcome.changed:
            self.stdout.write(
                f"{name} is already paused (since {pause.paused_at:%Y-%m-%d %H:%M:%S} UTC); "
                f"{outcome.held} deliveries held"
            )
            return
        self.stdout.write(
            f"paused {name}: {outcome.held} deliveries held; "
            f"new ones are recorded and held until eventhub_resume {name}"
        )
