"""``manage.py eventhub_resume NAME``: release a paused subscriber's held deliveries."""

from typing import Any

from django.core.management.base import BaseCommand, CommandError

from eventhub.bus.pauses import PauseError, subscriber_resume

from ._operator import required_user_id


class Command(BaseCommand):
    help = (
        "Resume a paused subscriber: the relay dispatches its held deliveries in recorded "
        "order at EVENTHUB_RETRY_RATE_PER_SECOND, then it runs as before."
    )

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument(
            "--user",
            required=True,
            help="the operator's username (required: the resume is an entry in the admin log)",
        )
        parser.add_argument("name", help="the paused subscriber")

    def handle(self, *args: Any, name: str, user: str | None, **options: Any) -> None:
        try:
            outcome = subscriber_resume(name=name, user_id=required_user_id(user))
        except PauseError as exc:
            raise CommandError(str(exc)) from exc
        rate = outcome.pause.rate_per_second
        if not outcome.changed:
            self.stdout.write(f"{name} is already resuming: {outcome.held} deliveries left")
            return
        self.stdout.write(
            f"resumed {name}: {outcome.held} held deliveries are released in recorded order "
            f"at {rate}/s (about {outcome.held / rate:.1f} s) by the relay"
        )
