"""What a metric family is, apart from where its figures come from (no Django imports)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

Labels = tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class Sample:
    labels: Labels
    value: float


@dataclass(frozen=True)
class HistogramSample:
    labels: Labels
    buckets: tuple[tuple[float, int], ...]
    """(upper bound, cumulative count) pairs; the +Inf bucket is ``count``."""
    count: int
    sum: float


@dataclass
class Family:
    name: str
    kind: Literal["counter", "gauge", "histogram"]
    help: str
    samples: list[Sample] | list[HistogramSample] = field(default_factory=list)
