"""Native (exponential) histograms: differencing samples and putting cohorts on one grid.

Why: a native histogram's buckets grow by 2^(2^-schema) (schema 3: 9% wide), against the 2.5x of
the default classic buckets, so far fewer requests are ties and the rank test sees finer ranks.
Prometheus' HTTP API gives each sample of a native series as ``count``, ``sum`` and the populated
buckets only, each an interval ``(lower, upper]`` with its count since the series began (bucket
counts are not cumulative). The schema is not part of the answer; this module needs none.

**Differencing** (:func:`increase`). The increase between two samples is taken bucket by bucket;
a count that went down (or any bucket that did) is a counter reset and the later sample counts
in full, as for classic counters. Two samples need not share a layout: the client may lower its
schema to bound its buckets, and Prometheus may lower it to fit ``native_histogram_bucket_limit``.

**Decision: merge to the coarser layout, never refuse the window.** Buckets of any two schemas
nest (schema s-1 merges pairs of schema s), so wherever populated buckets of two samples overlap
they are merged into one span (:func:`spans`) and both samples are counted on the spans. No count
is ever split, so the result is exact; only resolution is lost, and only where a layout changed.
The same merge puts the candidate and the baseline on a common grid (:func:`common_layout`): the
grid's edges are the union of the bounds of the spans, with empty buckets in the gaps.

**Ranks and ties on the common grid.** Requests in one grid bucket are ties (mid-ranks, the tie
term of Var0 U, analysis.ranks); an empty gap bucket adds neither ranks nor ties. Where both
cohorts share the schema the grid is the native buckets themselves; where one cohort's schema is
coarser, its wider buckets are the grid there and the other cohort's requests inside one count as
ties with it. The analysis state pools counts over intervals on a grid merged the same way
(:func:`regrid`), so a later interval may add buckets (latency reaching further) or coarsen them.

Worked example (schema 0, growth factor 2): a sample of buckets (0.5, 1] 3 and (1, 2] 1 followed
by one at schema -1 with (0.25, 1] 5 and (1, 4] 2 merges to spans (0.25, 1] and (1, 4] and the
increase is (0.25, 1] 2, (1, 4] 1.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from analysis.observations import ObservationError, Window

MAX_BUCKETS = 256
"""Most buckets one native grid may have: bucket counts are kept in status."""


@dataclass(frozen=True)
class NativeBucket:
    """One populated bucket: requests with lower < latency <= upper (the zero bucket is closed)."""

    lower: float
    upper: float
    count: float

    def __post_init__(self) -> None:
        for name in ("lower", "upper", "count"):
            object.__setattr__(self, name, float(getattr(self, name)))
        if not (math.isfinite(self.lower) and math.isfinite(self.upper) and self.lower < self.upper):
            raise ObservationError(f"a native bucket must have finite bounds lower < upper, got {self}")
        if not math.isfinite(self.count) or self.count < 0:
            raise ObservationError(f"a native bucket count must be finite and not negative, got {self}")


Buckets = tuple[NativeBucket, ...]


@dataclass(frozen=True)
class NativeSample:
    """One sample of a native histogram series: its observation count and populated buckets."""

    count: float
    buckets: Buckets


def spans(*layouts: Iterable[NativeBucket]) -> tuple[tuple[float, float], ...]:
    """The coarsest intervals such that every bucket of every layout lies inside one of them.

    Overlapping buckets (a finer schema inside a coarser one, the zero bucket inside the first
    positive bucket) are merged; buckets that only touch stay apart.

    >>> spans([NativeBucket(0.5, 1, 3), NativeBucket(1, 2, 1)], [NativeBucket(0.25, 1, 5)])
    ((0.25, 1.0), (1.0, 2.0))
    """
    merged: list[list[float]] = []
    for lower, upper in sorted((b.lower, b.upper) for layout in layouts for b in layout):
        if merged and lower < merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], upper)
        else:
            merged.append([float(lower), float(upper)])
    return tuple((lower, upper) for lower, upper in merged)


def grid(*layouts: Iterable[NativeBucket]) -> tuple[float, ...]:
    """Edges of one grid for all ``layouts``: every bound of every span, gaps as empty buckets.

    Bucket j of a grid is (edges[j-1], edges[j]], the first (-inf, edges[0]] and the last
    (edges[-1], +inf), as HistogramObservation counts them; here those two are always empty.
    """
    edges = tuple(sorted({bound for span in spans(*layouts) for bound in span}))
    if len(edges) >= MAX_BUCKETS:
        raise ObservationError(f"the native histograms need {len(edges) + 1} buckets, over {MAX_BUCKETS}")
    return edges


def on_grid(buckets: Iterable[NativeBucket], edges: Sequence[float]) -> list[float]:
    """Counts of ``buckets`` per bucket of the grid ``edges`` (no bucket may straddle an edge)."""
    lowers = (-math.inf, *edges)
    counts = [0.0] * (len(edges) + 1)
    for bucket in buckets:
        index = bisect.bisect_left(edges, bucket.upper)
        if index == len(edges) or lowers[index] > bucket.lower:
            raise ObservationError(f"bucket ({bucket.lower:g}, {bucket.upper:g}] straddles the grid")
        counts[index] += bucket.count
    return counts


def populated(edges: Sequence[float], counts: Sequence[float]) -> Buckets:
    """The non-empty buckets of a grid; its open first and last buckets must be empty."""
    if counts and (counts[0] or counts[-1]):
        raise ObservationError("a native grid has requests below its first or above its last edge")
    return tuple(
        NativeBucket(edges[index - 1], edges[index], count)
        for index, count in enumerate(counts)
        if count and 0 < index < len(edges)
    )


def total(layouts: Iterable[Buckets]) -> Buckets:
    """The bucket-wise sum of several layouts (series of a cohort, increments of a window).

    >>> total([(NativeBucket(1, 2, 1),), (NativeBucket(0.5, 1, 2), NativeBucket(1, 2, 3))])
    (NativeBucket(lower=0.5, upper=1.0, count=2.0), NativeBucket(lower=1.0, upper=2.0, count=4.0))
    """
    layouts = list(layouts)
    edges = grid(*layouts)
    sums = [0.0] * (len(edges) + 1)
    for layout in layouts:
        sums = [a + b for a, b in zip(sums, on_grid(layout, edges), strict=True)]
    return populated(edges, sums)


def increase(earlier: NativeSample, later: NativeSample) -> Buckets:
    """What ``later`` added over ``earlier`` per bucket; all of ``later`` after a counter reset.

    >>> before = NativeSample(4, (NativeBucket(0.5, 1, 3), NativeBucket(1, 2, 1)))
    >>> after = NativeSample(7, (NativeBucket(0.25, 1, 5), NativeBucket(1, 4, 2)))
    >>> increase(before, after)
    (NativeBucket(lower=0.25, upper=1.0, count=2.0), NativeBucket(lower=1.0, upper=4.0, count=1.0))
    >>> increase(after, before) == before.buckets
    True
    """
    edges = grid(earlier.buckets, later.buckets)
    old, new = on_grid(earlier.buckets, edges), on_grid(later.buckets, edges)
    deltas = [b - a for a, b in zip(old, new, strict=True)]
    if later.count < earlier.count or any(delta < 0 for delta in deltas):
        return later.buckets
    return populated(edges, deltas)


def window_increase(samples: Sequence[tuple[float, NativeSample]], window: Window) -> Buckets:
    """The increase over [start, end) of one series, by the rules of classic counters.

    Every sample with start <= t < end counts its increase over the sample before it (which may
    lie before the window); a series with no earlier sample was born in the window and counts
    from zero (analysis.providers.prometheus).
    """
    start, end = window.start.timestamp(), window.end.timestamp()
    parts: list[Buckets] = []
    previous: NativeSample | None = None
    for timestamp, sample in sorted(samples, key=lambda item: item[0]):
        if timestamp >= end:
            break
        if timestamp >= start:
            parts.append(sample.buckets if previous is None else increase(previous, sample))
        previous = sample
    return total(parts)


def common_layout(
    candidate: Buckets, baseline: Buckets
) -> tuple[tuple[float, ...], tuple[int, ...], tuple[int, ...]]:
    """Both cohorts on one grid: (edges, candidate counts, baseline counts), +Inf bucket included.

    >>> common_layout((NativeBucket(1, 2, 3),), (NativeBucket(0.5, 1, 1), NativeBucket(2, 4, 2)))
    ((0.5, 1.0, 2.0, 4.0), (0, 0, 3, 0, 0), (0, 1, 0, 2, 0))
    """
    edges = grid(candidate, baseline)
    return edges, _whole(on_grid(candidate, edges)), _whole(on_grid(baseline, edges))


def _whole(counts: list[float]) -> tuple[int, ...]:
    rounded = tuple(round(count) for count in counts)
    if any(abs(count - whole) > 1e-6 * max(1.0, count) for count, whole in zip(counts, rounded, strict=True)):
        raise ObservationError(f"native bucket counts increased by fractions: {counts}")
    return rounded


def merged_grid(layouts: Iterable[tuple[Sequence[float], Sequence[Sequence[float]]]]) -> tuple[float, ...]:
    """One grid for several edge layouts, each given with its count arrays (the engine's state)."""
    return grid(*(populated(edges, counts) for edges, arrays in layouts for counts in arrays))


def regrid(edges: Sequence[float], counts: Sequence[float], to: Sequence[float]) -> tuple[float, ...]:
    """``counts`` on ``edges`` moved onto the grid ``to`` (a merge of it: no bucket is split).

    >>> regrid((1, 2, 4), (0, 3, 2, 0), (1, 4))
    (0.0, 5.0, 0.0)
    """
    return tuple(on_grid(populated(edges, counts), to))
