"""The event store (also the transactional outbox), deliveries and their attempts."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models


class Event(models.Model):
    """One published event, written in the publisher's transaction (the outbox row).

    ``id`` is the global position: the order in which events were recorded.
    """

    event_id = models.UUIDField(unique=True, default=uuid.uuid4, editable=False)
    event_type = models.CharField(max_length=100)
    version = models.PositiveSmallIntegerField()
    source = models.CharField(max_length=100)
    aggregate_type = models.CharField(max_length=50)
    aggregate_id = models.CharField(max_length=100)
    sequence = models.PositiveBigIntegerField(help_text="Position within its aggregate")
    timestamp = models.BigIntegerField(help_text="Epoch milliseconds")
    data = models.JSONField()
    correlation_id = models.CharField(max_length=128, db_index=True)
    causation_id = models.UUIDField(null=True, blank=True)
    trace_id = models.CharField(max_length=32, blank=True)
    trace_context = models.JSONField(default=dict, blank=True)
    correction = models.JSONField(
        null=True,
        blank=True,
        help_text="For an operator's correction: the event and delivery it corrects, and who",
    )
    recorded_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["aggregate_type", "aggregate_id", "sequence"],
                name="event_unique_aggregate_sequence",
            ),
        ]
        indexes = [
            models.Index(fields=["event_type", "id"]),
            models.Index(fields=["timestamp"]),
            models.Index(fields=["recorded_at"]),  # a redrive's window
        ]
        permissions = [("replay_events", "Can replay flows to replayable subscribers")]

    def __str__(self) -> str:
        return f"{self.event_type} {self.event_id}"


class AggregateSequence(models.Model):
    """The last sequence number handed out per aggregate (see outbox.next_sequence)."""

    aggregate_type = models.CharField(max_length=50)
    aggregate_id = models.CharField(max_length=100)
    last = models.PositiveBigIntegerField()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["aggregate_type", "aggregate_id"], name="aggregate_sequence_unique"
            )
        ]

    def __str__(self) -> str:
        return f"{self.aggregate_type} {self.aggregate_id} at {self.last}"


class Delivery(models.Model):
    """One event to one subscriber: the unit that is queued, attempted, retried, dead-lettered."""

    class Status(models.TextChoices):
        PENDING = "pending"
        RUNNING = "running"
        SUCCEEDED = "succeeded"
        RETRYING = "retrying"
        FAILED = "failed"  # an at-most-once delivery that failed: recorded, never retried
        DEAD = "dead"
        DISCARDED = "discarded"
        RESOLVED = "resolved"  # replaced by an operator's correction event: never sent again

    event = models.ForeignKey(Event, on_delete=models.CASCADE, related_name="deliveries")
    subscriber = models.CharField(max_length=100)
    generation = models.PositiveIntegerField(
        default=0,
        db_default=0,
        help_text="0: the delivery made when the event was recorded; n: the n-th replay of it",
    )
    queue = models.CharField(max_length=100)
    guarantee = models.CharField(max_length=20)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    max_attempts = models.PositiveIntegerField()
    next_attempt_at = models.DateTimeField()
    dispatched_at = models.DateTimeField(null=True, blank=True)
    dispatch_seq = models.PositiveIntegerField(default=0)
    dispatch_token = models.UUIDField(null=True, blank=True, db_index=True, editable=False)
    lease_expires_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    error_type = models.CharField(max_length=200, blank=True, help_text="Class of the last error")
    fingerprint = models.CharField(
        max_length=200,
        blank=True,
        db_index=True,
        help_text="The last error's type and first project frame (bus/fingerprints.py)",
    )
    dead_at = models.DateTimeField(null=True, blank=True)
    discard_reason = models.TextField(blank=True)
    retried_at = models.DateTimeField(
        null=True, blank=True, help_text="When an operator last retried it from the dead letters"
    )
    resolved_by = models.ForeignKey(
        Event,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="resolves",
        help_text="The correction event that replaced this dead letter (edit & retry)",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name_plural = "deliveries"
        constraints = [
            models.UniqueConstraint(
                fields=["event", "subscriber", "generation"], name="delivery_unique"
            ),
            models.CheckConstraint(
                condition=models.Q(attempts__lte=models.F("max_attempts")),
                name="delivery_attempts_within_max",
            ),
        ]
        indexes = [
            models.Index(fields=["status", "dispatched_at", "next_attempt_at"]),
            models.Index(fields=["status", "lease_expires_at"]),
            models.Index(fields=["subscriber", "status"]),
        ]

    def __str__(self) -> str:
        """What failed (or ran) on what, e.g. "payments.authorize_payment failed on
        order.created ORD-1" (admin titles and breadcrumbs; select_related("event") there)."""
        event = self.event
        what = f"{event.event_type} {event.aggregate_id}"
        if self.status == self.Status.DEAD:
            return f"{self.subscriber} failed on {what}"
        return f"{self.subscriber} on {what} ({self.status})"


class Attempt(models.Model):
    """One try of a delivery, with where it ran and how it ended."""

    class Outcome(models.TextChoices):
        RUNNING = "running"
        SUCCEEDED = "succeeded"
        FAILED = "failed"
        LOST = "lost"  # the worker died or the lease ran out

    delivery = models.ForeignKey(Delivery, on_delete=models.CASCADE, related_name="attempt_log")
    number = models.PositiveIntegerField()
    worker = models.CharField(max_length=200)
    started_at = models.DateTimeField()
    finished_at = models.DateTimeField(null=True, blank=True)
    outcome = models.CharField(max_length=10, choices=Outcome.choices, default=Outcome.RUNNING)
    error = models.TextField(blank=True)
    traceback = models.TextField(blank=True)

    class Meta:
        ordering = ["delivery_id", "number"]
        constraints = [
            models.UniqueConstraint(fields=["delivery", "number"], name="attempt_unique_number")
        ]

    def __str__(self) -> str:
        return f"attempt {self.number} of delivery {self.delivery_id}: {self.outcome}"

    @property
    def duration_ms(self) -> float | None:
        if self.finished_at is None:
            return None
        return (self.finished_at - self.started_at).total_seconds() * 1000


class ProcessedEvent(models.Model):
    """Idempotency record of an effectively-once subscriber, written with its own writes."""

    subscriber = models.CharField(max_length=100)
    event_id = models.UUIDField()
    generation = models.PositiveIntegerField(
        default=0,
        db_default=0,
        help_text="The delivery generation applied (0: original, n: n-th replay)",
    )
    processed_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["subscriber", "event_id", "generation"], name="processed_once"
            )
        ]

    def __str__(self) -> str:
        replay = f" (replay {self.generation})" if self.generation else ""
        return f"{self.subscriber} applied {self.event_id}{replay}"


class FaultRule(models.Model):
    """An operator's switch making one subscriber fail or slow down (off unless enabled)."""

    class Mode(models.TextChoices):
        NONE = "none", "no failure (latency only)"
        ALWAYS = "always", "fail always"
        NEXT_N = "next_n", "fail the next N attempts"
        PERCENT = "percent", "fail a percentage of attempts"

    subscriber = models.CharField(max_length=100, unique=True)
    enabled = models.BooleanField(default=False)
    mode = models.CharField(max_length=10, choices=Mode.choices, default=Mode.NONE)
    remaining = models.PositiveIntegerField(default=0, help_text="For 'fail the next N'")
    percent = models.PositiveSmallIntegerField(default=0, help_text="For 'fail a percentage'")
    latency_ms = models.PositiveIntegerField(default=0)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.CheckConstraint(condition=models.Q(percent__lte=100), name="fault_percent_max")
        ]

    def __str__(self) -> str:
        return f"{self.subscriber}: {self.get_mode_display()}"


class DeadLetterManager(models.Manager["DeadLetter"]):
    def get_queryset(self) -> models.QuerySet[DeadLetter]:
        return super().get_queryset().filter(status=Delivery.Status.DEAD)


class DeadLetter(Delivery):
    """The dead deliveries, as the operator's repair list (a view of Delivery)."""

    objects = DeadLetterManager()

    class Meta:
        proxy = True
        permissions = [
            ("retry_deadletter", "Can retry dead letters"),
            ("discard_deadletter", "Can discard dead letters"),
            ("edit_deadletter", "Can edit and retry dead letters"),
        ]


class RetryBatch(models.Model):
    """An operator's request to retry many dead letters, or to replay recorded events to
    replayable subscribers, carried out by the relay at a rate."""

    class Kind(models.TextChoices):
        RETRY = "retry", "retry dead letters"
        REPLAY = "replay", "replay events (new delivery generations)"

    kind = models.CharField(max_length=10, choices=Kind.choices, default=Kind.RETRY)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL
    )
    delivery_ids = models.JSONField(
        default=list,
        help_text="retry: the dead letters to requeue; replay: the deliveries made so far",
    )
    replays = models.JSONField(
        default=list,
        blank=True,
        help_text="replay: [event id, subscriber] to deliver, in recorded order",
    )
    total = models.PositiveIntegerField()
    done = models.PositiveIntegerField(default=0, help_text="Items handled so far")
    requeued = models.PositiveIntegerField(
        default=0, help_text="Of those, put back in line (retry) or sent again (replay)"
    )
    rate_per_second = models.PositiveIntegerField(default=50)
    reason = models.CharField(
        max_length=200, blank=True, help_text="Where it was asked from (the audit log says it)"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    paced_from = models.DateTimeField(
        null=True,
        blank=True,
        help_text="Origin of the pace: dead letter k is due k / rate seconds after it",
    )
    advanced_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    cancelled_at = models.DateTimeField(null=True, blank=True)
    cancelled_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )

    class Meta:
        verbose_name_plural = "retry batches"
        ordering = ["-created_at"]
        permissions = [("redrive_deliveries", "Can redrive a subscriber over a time window")]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(done__lte=models.F("total")), name="batch_done_le_total"
            ),
            models.CheckConstraint(
                condition=models.Q(rate_per_second__gt=0), name="batch_rate_positive"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.kind} batch {self.pk}: {self.done}/{self.total}"

    @property
    def status(self) -> str:
        if self.cancelled_at:
            return "cancelled"
        return "finished" if self.finished_at else "running"


class SubscriberPause(models.Model):
    """An operator's pause of one subscriber (``bus/pauses.py``): its deliveries are held.

    While ``resumed_at`` is empty the subscriber's deliveries are recorded but neither
    dispatched nor attempted. A resume sets ``resumed_at``: the relay then releases the held
    deliveries in recorded order at ``rate_per_second`` (delivery ``k`` of the backlog due
    ``k / rate`` seconds after ``paced_from``; ``released`` counts them) and deletes the row
    once none is left. The row is the pause: it lives in the database, so it survives
    restarts of every process.
    """

    subscriber = models.CharField(max_length=100, unique=True)
    paused_at = models.DateTimeField()
    paused_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        help_text="Empty when paused from the command line",
    )
    reason = models.CharField(max_length=500, blank=True)
    resumed_at = models.DateTimeField(null=True, blank=True)
    resumed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    rate_per_second = models.PositiveIntegerField(default=50)
    paced_from = models.DateTimeField(
        null=True, blank=True, help_text="Origin of the resume's pace (moved up if it fell behind)"
    )
    released = models.PositiveIntegerField(
        default=0, help_text="Held deliveries released since the resume"
    )

    class Meta:
        ordering = ["subscriber"]
        permissions = [("pause_subscriber", "Can pause and resume subscribers")]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(rate_per_second__gt=0), name="pause_rate_positive"
            )
        ]

    def __str__(self) -> str:
        return f"{self.subscriber} ({self.state})"

    @property
    def state(self) -> str:
        return "resuming" if self.resumed_at else "paused"
