"""One dashboard connection's view of the database: what to send next, by cursor.

Channel-layer notices only say "something changed"; this reads what changed from the
database, which is the source of truth:

- events by position (``id > cursor``). On PostgreSQL a position can become visible after a
  higher one (transactions commit out of order), so skipped positions are remembered as
  *holes* and looked up again for ``HOLE_TTL`` seconds; on resume the last
  ``RESUME_LOOKBACK`` positions are sent again (the page drops events it already has).
- deliveries by ``updated_at`` with a ``DELIVERY_LOOKBACK`` window for late commits; a row
  is sent again only when its state changed (the page upserts by id either way). Once
  caught up, the window never starts more than two lookbacks before the clock: when
  deliveries stop changing, polls stop re-reading the last busy window.
- counters and the dead-letter summary at most once per ``SUMMARY_EVERY`` seconds, and the
  dead letters (and the retry batches' progress) only when they changed. The summary is
  read once per half ``SUMMARY_EVERY`` per process and shared by its connections (ten
  pages cost one read, not ten).
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.utils import timezone

from ..bus.pauses import pauses_summary
from . import timeline
from .shared_reads import shared

BATCH_EVENTS = 500
BATCH_DELIVERIES = 2000
FRESH_EVENTS = 500
"""A page without a cursor starts from the last this many events."""
REPLAY_LIMIT = 20_000
"""A page further behind than this is reset to the latest events instead of replayed."""
RESUME_LOOKBACK = 200
HOLE_TTL = 30.0
MAX_HOLES = 10_000
DELIVERY_LOOKBACK = timedelta(seconds=5)
MAX_DELIVERY_REPLAY = timedelta(minutes=10)
SUMMARY_EVERY = 1.0
RATE_WINDOW = 5.0


_summary_lock = threading.Lock()
Summary = tuple[dict[str, Any], dict[str, Any], list[dict[str, Any]], list[dict[str, Any]]]
_summary: tuple[float, Summary] | None = None


def summary(now: float) -> Summary:
    """Delivery counters, dead letters, retry batches and paused subscribers (with their held
    counts), read at most once per SUMMARY_EVERY / 2 here."""
    global _summary
    with _summary_lock:
        if _summary is None or not 0 <= now - _summary[0] < SUMMARY_EVERY / 2:
            _summary = (
                now,
                (
                    timeline.delivery_counts(),
                    timeline.dead_letters(),
                    timeline.retry_batches(),
                    pauses_summary(),
                ),
            )
        return _summary[1]


@dataclass
class TimelineStream:
    cursor: int = 0
    holes: dict[int, float] = field(default_factory=dict)
    delivery_since: datetime | None = None
    sent_deliveries: dict[int, tuple[str, int, datetime]] = field(default_factory=dict)
    summary_at: float = 0.0
    dead_letters_sent: dict[str, Any] | None = None
    retry_batches_sent: list[dict[str, Any]] | None = None
    pauses_sent: list[dict[str, Any]] | None = None
    rate_samples: list[tuple[float, int]] = field(default_factory=list)
    deliveries_caught_up: bool = False
    """The last read of changed deliveries was not cut off by BATCH_DELIVERIES."""

    def resume(self, cursor: int | None, deliveries_seen: datetime | None = None) -> dict[str, Any]:
        """The first batch of a connection: a replay after ``cursor``, or a fresh window.

        ``deliveries_seen`` is the newest delivery change the page already has; changes since
        then (at most ``MAX_DELIVERY_REPLAY`` back) are sent again.
        """
        now = timezone.now()
        floor = now - MAX_DELIVERY_REPLAY
        self.delivery_since = (
            max(floor, min(deliveries_seen, now)) if deliveries_seen else now - DELIVERY_LOOKBACK
        )
        last = timeline.latest_position()
        reset = cursor is None or cursor > last or last - cursor > REPLAY_LIMIT
        if reset:
            events = timeline.events_latest(limit=FRESH_EVENTS)
            self.cursor = events[-1]["position"] if events else last
            self._note_holes(events[0]["position"] - 1 if events else last, events)
        else:
            assert cursor is not None
            low = max(0, cursor - RESUME_LOOKBACK)
            self.cursor = low
            events = timeline.events_after(position=low, limit=BATCH_EVENTS)
            self._advance(events)
        batch = self._batch(events, reset=reset)
        batch["more"] = not reset and len(events) >= BATCH_EVENTS
        batch["replay"] = True
        return batch

    def poll(self) -> dict[str, Any] | None:
        """What changed since the last poll, or None if nothing did."""
        cursor = self.cursor
        events = shared(
            ("events_after", cursor),
            lambda: timeline.events_after(position=cursor, limit=BATCH_EVENTS),
        )
        more = len(events) >= BATCH_EVENTS
        late = self._recheck_holes()
        self._advance(events)
        events = sorted(late + events, key=lambda e: e["position"])
        batch = self._batch(events, reset=False)
        batch["more"] = more
        if not (events or batch["deliveries"] or "stats" in batch or "deadLetters" in batch):
            return None
        return batch

    # --- events -----------------------------------------------------------------------------

    def _advance(self, events: list[dict[str, Any]]) -> None:
        self._note_holes(self.cursor, events)
        if events:
            self.cursor = max(self.cursor, events[-1]["position"])

    def _note_holes(self, after: int, events: list[dict[str, Any]]) -> None:
        now = time.monotonic()
        expected = after + 1
        for event in events:
            position = event["position"]
            if position < expected:
                continue
            for missing in range(expected, min(position, expected + MAX_HOLES)):
                self.holes[missing] = now
            expected = position + 1
        while len(self.holes) > MAX_HOLES:
            self.holes.pop(next(iter(self.holes)))

    def _recheck_holes(self) -> list[dict[str, Any]]:
        if not self.holes:
            return []
        now = time.monotonic()
        for position, seen in list(self.holes.items()):
            if now - seen > HOLE_TTL:
                del self.holes[position]
        holes = tuple(sorted(self.holes))
        found = shared(("events_at", holes), lambda: timeline.events_at(positions=holes))
        for event in found:
            self.holes.pop(event["position"], None)
        return found

    # --- deliveries and summaries -----------------------------------------------------------

    def _changed_deliveries(self, positions: list[int]) -> list[dict[str, Any]]:
        assert self.delivery_since is not None
        wanted = tuple(positions)
        # Shared reads (see shared_reads): copy a row before changing it.
        rows = {
            d["id"]: dict(d)
            for d in shared(
                ("deliveries_of", wanted), lambda: timeline.deliveries_of(positions=wanted)
            )
        }
        since = self.delivery_since
        if self.deliveries_caught_up:
            # A change commits well within a lookback of its updated_at (the same bound
            # as while deliveries keep changing), so a quiet stream need not re-read the
            # window before its last change on every poll.
            since = max(since, timezone.now() - DELIVERY_LOOKBACK)
        # Rounded down to a quarter second, so that connections at the same point share the
        # read (a wider window only re-reads rows that the sent-state check then skips).
        start = since - DELIVERY_LOOKBACK
        start -= timedelta(microseconds=start.microsecond % 250_000)
        changed = shared(
            ("deliveries_changed", start),
            lambda: timeline.deliveries_changed(since=start, limit=BATCH_DELIVERIES),
        )
        self.deliveries_caught_up = len(changed) < BATCH_DELIVERIES
        for row in changed:
            if row["id"] not in rows:
                rows[row["id"]] = dict(row)
        fresh = []
        newest = self.delivery_since
        for row in rows.values():
            updated = row.pop("_updated")
            state = (row["status"], row["attempts"], updated)
            newest = max(newest, updated)
            if self.sent_deliveries.get(row["id"]) != state:
                self.sent_deliveries[row["id"]] = state
                fresh.append(row)
        self.delivery_since = newest
        horizon = newest - 2 * DELIVERY_LOOKBACK
        for pk, (_, _, updated) in list(self.sent_deliveries.items()):
            if updated < horizon:
                del self.sent_deliveries[pk]
        return sorted(fresh, key=lambda d: d["id"])

    def _batch(self, events: list[dict[str, Any]], *, reset: bool) -> dict[str, Any]:
        batch: dict[str, Any] = {
            "type": "batch",
            "reset": reset,
            "replay": False,
            "cursor": self.cursor,
            "events": events,
            "deliveries": self._changed_deliveries([e["position"] for e in events]),
        }
        now = time.monotonic()
        if reset or now - self.summary_at >= SUMMARY_EVERY:
            self.summary_at = now
            counts, dead, retry_batches, pauses = summary(now)
            batch["stats"] = {**counts, "eventsPerSecond": self._rate(now)}
            if dead != self.dead_letters_sent:
                self.dead_letters_sent = dead
                batch["deadLetters"] = dead
            if retry_batches != self.retry_batches_sent:
                self.retry_batches_sent = retry_batches
                batch["retryBatches"] = retry_batches
            if pauses != self.pauses_sent:
                self.pauses_sent = pauses
                batch["pauses"] = pauses
        return batch

    def _rate(self, now: float) -> float:
        self.rate_samples.append((now, self.cursor))
        self.rate_samples = [s for s in self.rate_samples if now - s[0] <= RATE_WINDOW]
        (t0, c0), (t1, c1) = self.rate_samples[0], self.rate_samples[-1]
        return round((c1 - c0) / (t1 - t0), 1) if t1 > t0 else 0.0
