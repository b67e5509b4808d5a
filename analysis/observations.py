"""One interval's data for one metric, as a provider hands it to the engine.

Why validated value objects: counts arrive from Prometheus, from hand-written JSON files and from
tests. A negative count, a NaN or a bucket list of the wrong length must become a clear ERROR for
that metric, never a crash and never a PASS; so every observation checks itself when built and a
provider turns :class:`ObservationError` into :class:`QueryFailed`.

Expected outcomes are data, not exceptions: a query that failed is a :class:`QueryFailed`
(verdict ERROR), a metric that returned nothing is a :class:`NoData` (verdict NO_DATA).
Counts are whole numbers: they come from differencing raw counters, never from ``rate()``.
"""

from __future__ import annotations

import itertools
import math
import numbers
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True)
class Window:
    """The half-open interval [start, end) whose counts make one look."""

    start: datetime
    end: datetime

    def __post_init__(self) -> None:
        if self.start.tzinfo is None or self.end.tzinfo is None:
            raise ValueError("window times must carry a time zone")
        if self.end <= self.start:
            raise ValueError(f"window end {self.end} is not after its start {self.start}")

    @property
    def seconds(self) -> float:
        """Length of the window in seconds."""
        return (self.end - self.start).total_seconds()


class ObservationError(ValueError):
    """Counts that cannot be judged: negative, fractional, NaN, or of mismatched shape."""


def whole_count(value: object, what: str) -> int:
    """``value`` as a non-negative whole number, or ObservationError naming ``what``.

    Integral floats (``3.0``, as JSON and Prometheus write numbers) and numpy numbers are
    accepted; booleans, fractions, NaN, infinities and negative numbers are not.
    """
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ObservationError(f"{what} must be a number, got {value!r}")
    number = float(value)
    if not math.isfinite(number):
        raise ObservationError(f"{what} must be finite, got {value!r}")
    if number < 0:
        raise ObservationError(f"{what} must not be negative, got {value!r}")
    if not number.is_integer():
        raise ObservationError(f"{what} must be a whole number of events, got {value!r}")
    return int(number)


def _counts(values: Sequence[object], what: str) -> tuple[int, ...]:
    return tuple(whole_count(value, f"{what}[{index}]") for index, value in enumerate(values))


@dataclass(frozen=True)
class RateCounts:
    """Requests and the events among them (errors, or requests slower than the SLO)."""

    requests: int
    events: int

    def __post_init__(self) -> None:
        object.__setattr__(self, "requests", whole_count(self.requests, "requests"))
        object.__setattr__(self, "events", whole_count(self.events, "events"))
        if self.events > self.requests:
            raise ObservationError(f"{self.events} events out of {self.requests} requests")


@dataclass(frozen=True)
class RateObservation:
    """Error-rate counts of both cohorts over one interval.

    ``errors_matched`` says whether the errors query matched at least one series (of either
    cohort) this interval. A provider reading a counter that may not exist yet reports zero
    errors either way; this flag is what lets the engine tell "no error so far" from "the query
    matches nothing" (a misspelt metric name), which must never PASS. Counts given explicitly
    (an observations file, a simulation) are data, hence the default.
    """

    candidate: RateCounts
    baseline: RateCounts
    errors_matched: bool = True


@dataclass(frozen=True)
class HistogramObservation:
    """Bucket counts of both cohorts over one interval, on one shared bucket layout.

    ``edges`` are the finite upper bounds (``le``) in increasing order; the +Inf bucket is
    implied, so each cohort has ``len(edges) + 1`` counts, per bucket (not cumulative).
    ``invalid_*`` count predictions that are not scores at all (NaN, failed); drift only.
    """

    edges: tuple[float, ...]
    candidate: tuple[int, ...]
    baseline: tuple[int, ...]
    invalid_candidate: int = 0
    invalid_baseline: int = 0

    def __post_init__(self) -> None:
        edges = tuple(float(edge) for edge in self.edges)
        if not all(math.isfinite(edge) for edge in edges):
            raise ObservationError("bucket edges must be finite (the +Inf bucket is implied)")
        if any(later <= earlier for earlier, later in itertools.pairwise(edges)):
            raise ObservationError(f"bucket edges must increase strictly, got {list(edges)}")
        object.__setattr__(self, "edges", edges)
        _set_cohorts(self, len(edges) + 1, "buckets (edges + the +Inf bucket)")


@dataclass(frozen=True)
class ClassObservation:
    """Prediction counts per class of both cohorts over one interval (drift by a label)."""

    classes: tuple[str, ...]
    candidate: tuple[int, ...]
    baseline: tuple[int, ...]
    invalid_candidate: int = 0
    invalid_baseline: int = 0

    def __post_init__(self) -> None:
        if len(set(self.classes)) != len(self.classes) or not self.classes:
            raise ObservationError(f"classes must be distinct and not empty, got {list(self.classes)}")
        object.__setattr__(self, "classes", tuple(str(name) for name in self.classes))
        _set_cohorts(self, len(self.classes), "classes")


def _set_cohorts(observation: HistogramObservation | ClassObservation, size: int, what: str) -> None:
    for cohort in ("candidate", "baseline"):
        counts = _counts(getattr(observation, cohort), cohort)
        if len(counts) != size:
            raise ObservationError(f"{cohort} has {len(counts)} counts for {size} {what}")
        object.__setattr__(observation, cohort, counts)
    for cohort in ("invalid_candidate", "invalid_baseline"):
        object.__setattr__(observation, cohort, whole_count(getattr(observation, cohort), cohort))


@dataclass(frozen=True)
class ScalarObservation:
    """One finite number for the candidate (guards)."""

    value: float

    def __post_init__(self) -> None:
        if isinstance(self.value, bool) or not isinstance(self.value, numbers.Real):
            raise ObservationError(f"value must be a number, got {self.value!r}")
        if not math.isfinite(self.value):
            raise ObservationError(f"value must be finite, got {self.value!r}")
        object.__setattr__(self, "value", float(self.value))


@dataclass(frozen=True)
class NoData:
    """The metric returned nothing this interval (no series); ``reason`` says what was empty."""

    reason: str


@dataclass(frozen=True)
class QueryFailed:
    """The query failed (timeout, HTTP error, bad PromQL, unusable data); never promotes."""

    message: str


Observation = (
    RateObservation | HistogramObservation | ClassObservation | ScalarObservation | NoData | QueryFailed
)

IntervalObservations = Mapping[str, Observation]
"""One interval's observations, by metric name; a metric left out counts as NoData."""
