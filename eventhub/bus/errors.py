"""The bus's error types. Each carries a message that names what was wrong."""


class EventhubError(Exception):
    """Base of every error raised by the bus."""


class EventValidationError(EventhubError, ValueError):
    """A payload does not match its declared schema; nothing was written."""

    def __init__(self, path: str, message: str) -> None:
        self.path = path
        super().__init__(f"{path}: {message}")


class NonRetryableError(EventhubError):
    """Retrying cannot help: the delivery goes straight to the dead letters."""


class UnsupportedEventVersion(NonRetryableError):
    """A stored event's version has no upcaster path to the current one."""


class UnknownSubscriber(NonRetryableError):
    """A delivery names a subscriber that no longer exists in the registry."""


class LeaseLost(EventhubError):
    """The delivery was taken over (its lease expired) while this attempt ran."""
