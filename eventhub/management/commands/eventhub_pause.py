"""``manage.py eventhub_pause NAME [--reason R]``: hold a subscriber's deliveries."""

from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from eventhub.bus.pauses import PauseError, subscriber_pause


class Command(BaseCommand):
    help = (
        "Pause a subscriber: its events are still recorded, its deliveries are held (not "
        "dispatched, not attempted) until eventhub_resume. Survives restarts."
    )

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument(
            "--user",
            default=None,
            help="the operator's username: the action is then an entry in the admin log",
        )
        parser.add_argument("name", help="the subscriber, e.g. notifications.order_confirmation")
        parser.add_argument("--reason", default="", help="why (kept with the pause)")

    def handle(self, *args: Any, name: str, reason: str, user: str | None, **options: Any) -> None:
        try:
            outcome = subscriber_pause(name=name, user_id=user_id(user), reason=reason)
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


def user_id(username: str | None) -> int | None:
    """The id of ``--user`` (None without it); an unknown name is refused, naming it."""
    if username is None:
        return None
    found = get_user_model().objects.filter(username=username).values_list("pk", flat=True)
    if not found:
        raise CommandError(f"user: no user named {username!r}")
    return int(found[0])
