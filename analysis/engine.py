"""Start the analysis and fold each interval's observations into its state: pure functions.

The controller calls :func:`start` once (when the first counted interval begins) and
:func:`update` once per interval with that interval's observations; :func:`analysis.judge.judge`
reads the result. Nothing here reads a clock or does I/O: the same observations always give the
same state, which is what lets a restarted controller resume from status.

An observation that cannot be used (a failed query, the wrong shape, a bucket layout that
changed) leaves the evidence as it was and marks the metric's last look as an error.

An error-rate metric also remembers whether its errors query has ever matched a series, for
either cohort (``ErrorRateState.errors_matched``): once it has, a cohort whose errors series is
absent in a window counts zero errors there (a counter that appears with the first error is
real); until it has, the judge will not PASS the metric (see :mod:`analysis.judge`, rule 5).
"""

from __future__ import annotations

import math
from dataclasses import replace
from typing import TypeVar

from analysis import native
from analysis.bounds import (
    RunningBounds,
    cles_bounds,
    error_rate_margin,
    location_pass_alpha,
    rate_bounds,
    rate_requests_needed,
    tail_margin,
    tail_requests_needed,
)
from analysis.criteria import (
    AnalysisCriteria,
    DriftCriteria,
    ErrorRateCriteria,
    GuardCriteria,
    HistogramKind,
    LatencyCriteria,
    MetricCriteria,
    MinEvidence,
    TrafficForecast,
)
from analysis.drift import DriftEvidence
from analysis.observations import (
    ClassObservation,
    HistogramObservation,
    IntervalObservations,
    NoData,
    Observation,
    ObservationError,
    QueryFailed,
    RateCounts,
    RateObservation,
    ScalarObservation,
)
from analysis.ranks import stratum_ranks
from analysis.rates import hard_limit_log_lr
from analysis.sequential import mixture_width
from analysis.state import (
    AnalysisState,
    DriftState,
    ErrorRateState,
    GuardState,
    LastLook,
    LatencyState,
    MetricState,
    Tuning,
    fresh_state,
)

DEFAULT_EXPECTED_SAMPLES = 1000.0
"""Effective sample size to tune for when no traffic forecast is available."""

_OK = LastLook("ok")

ObservationT = TypeVar("ObservationT")


class UnusableObservationError(ValueError):
    """An observation that does not fit the metric or its earlier intervals."""


def expected_samples(forecast: TrafficForecast | None) -> float:
    """Effective sample size sum n_c n_b / (n_c + n_b) over the forecast's intervals.

    >>> expected_samples(TrafficForecast(candidate_per_interval=50, baseline_per_interval=950, intervals=60))
    2850.0
    """
    if forecast is None:
        return DEFAULT_EXPECTED_SAMPLES
    c, b = forecast.candidate_per_interval, forecast.baseline_per_interval
    if c <= 0 or b <= 0 or forecast.intervals <= 0:
        return DEFAULT_EXPECTED_SAMPLES
    return forecast.intervals * c * b / (c + b)


def start(criteria: AnalysisCriteria, forecast: TrafficForecast | None = None) -> AnalysisState:
    """A fresh analysis: tuning fixed from the expected sample size, every metric empty."""
    samples = expected_samples(forecast)
    tuning = Tuning(
        alpha=criteria.alpha, expected_samples=samples, rho2=mixture_width(criteria.alpha, samples)
    )
    metrics = {metric.name: fresh_state(metric) for metric in criteria.metrics}
    return AnalysisState(criteria=criteria, tuning=tuning, metrics=metrics)


def update(state: AnalysisState, observations: IntervalObservations) -> AnalysisState:
    """The state after one more interval; a metric missing from ``observations`` gets NoData."""
    metrics = dict(state.metrics)
    for metric in state.criteria.metrics:
        observation = observations.get(metric.name, NoData("no observation for this interval"))
        before = metrics[metric.name]
        after = _update_metric(metric, before, observation, state.tuning)
        metrics[metric.name] = _intersect(metric, before, after, state.criteria.min_evidence, state.tuning)
    return replace(state, metrics=metrics)


def _intersect(
    metric: MetricCriteria, before: MetricState, after: MetricState, need: MinEvidence, tuning: Tuning
) -> MetricState:
    """``after`` with the running bounds of ``before`` tightened by this look's (analysis.bounds).

    A bound joins only when the metric has its minimum evidence, by the judge's own rules.
    """
    if isinstance(metric, ErrorRateCriteria) and isinstance(after, ErrorRateState):
        kept = before.bounds if isinstance(before, ErrorRateState) else RunningBounds()
        rates = after.rates
        margin = error_rate_margin(metric, rates)
        needed = rate_requests_needed(need, rates.baseline_rate, margin)
        if rates.compared and rates.candidate_requests >= needed:
            kept = kept.tighten(*rate_bounds(rates, tuning.rho2, tuning.alpha), margin)
        return replace(after, bounds=kept)
    if isinstance(metric, LatencyCriteria) and isinstance(after, LatencyState):
        location = before.location_bounds if isinstance(before, LatencyState) else RunningBounds()
        tail = before.tail_bounds if isinstance(before, LatencyState) else RunningBounds()
        if after.ranks.compared and sum(after.candidate) >= need.requests:
            alpha = location_pass_alpha(metric, tuning.alpha)
            location = location.tighten(*cles_bounds(after.ranks, tuning.rho2, alpha), metric.pass_below)
        shares = after.tail
        margin = tail_margin(metric, shares)
        needed = tail_requests_needed(need, shares.baseline_rate, margin)
        if metric.slo is not None and shares.compared and shares.candidate_requests >= needed:
            tail = tail.tighten(*rate_bounds(shares, tuning.rho2, tuning.alpha), margin)
        return replace(after, location_bounds=location, tail_bounds=tail)
    return after


def _update_metric(
    metric: MetricCriteria, current: MetricState, observation: Observation, tuning: Tuning
) -> MetricState:
    if isinstance(observation, NoData):
        return replace(current, last=LastLook("no_data", observation.reason))
    if isinstance(observation, QueryFailed):
        return replace(current, last=LastLook("error", observation.message))
    try:
        if isinstance(metric, ErrorRateCriteria) and isinstance(current, ErrorRateState):
            return _update_error_rate(metric, current, observation)
        if isinstance(metric, LatencyCriteria) and isinstance(current, LatencyState):
            return _update_latency(metric, current, observation, tuning)
        if isinstance(metric, DriftCriteria) and isinstance(current, DriftState):
            return _update_drift(metric, current, observation)
        if isinstance(metric, GuardCriteria) and isinstance(current, GuardState):
            return _update_guard(metric, current, observation)
    except UnusableObservationError as unusable:
        return replace(current, last=LastLook("error", str(unusable)))
    raise AssertionError(f"state {type(current).__name__} does not belong to a {metric.kind} metric")


def _expect(observation: Observation, expected: type[ObservationT], metric: MetricCriteria) -> ObservationT:
    if not isinstance(observation, expected):
        raise UnusableObservationError(
            f"a {metric.kind} metric needs a {expected.__name__}, got a {type(observation).__name__}"
        )
    return observation


def _update_error_rate(
    metric: ErrorRateCriteria, current: ErrorRateState, observation: Observation
) -> ErrorRateState:
    counts = _expect(observation, RateObservation, metric)
    hard_limit = current.hard_limit
    if metric.hard_limit is not None:
        hard_limit = hard_limit.extend(hard_limit_log_lr(counts.candidate, metric.hard_limit))
    rates = current.rates.add(counts.candidate, counts.baseline)
    matched = current.errors_matched or counts.errors_matched
    return ErrorRateState(rates=rates, hard_limit=hard_limit, last=_OK, errors_matched=matched)


def _check_layout(known: tuple[float, ...], edges: tuple[float, ...]) -> None:
    if known and known != edges:
        raise UnusableObservationError(
            f"bucket layout changed: the first interval had edges {list(known)}, this one {list(edges)}"
        )


def slo_bucket(edges: tuple[float, ...], slo: float) -> int:
    """Index of the bucket edge equal to the SLO; UnusableObservationError when there is none.

    >>> slo_bucket((0.1, 0.25, 0.5, 1.0), 0.5)
    2
    """
    for index, edge in enumerate(edges):
        if math.isclose(edge, slo, rel_tol=1e-9):
            return index
    raise UnusableObservationError(f"slo {slo} is not a bucket edge of the histogram (edges {list(edges)})")


def _update_latency(
    metric: LatencyCriteria, current: LatencyState, observation: Observation, tuning: Tuning
) -> LatencyState:
    histogram = ranked = _expect(observation, HistogramObservation, metric)
    if metric.histogram is HistogramKind.NATIVE:
        current, histogram = _on_one_grid(current, histogram)
    _check_layout(current.edges, histogram.edges)
    tail = current.tail
    if metric.slo is not None:
        above = slo_bucket(histogram.edges, metric.slo) + 1
        tail = tail.add(
            RateCounts(sum(histogram.candidate), sum(histogram.candidate[above:])),
            RateCounts(sum(histogram.baseline), sum(histogram.baseline[above:])),
        )
    ranks = current.ranks.add(stratum_ranks(ranked.candidate, ranked.baseline), tuning.rho2)
    return LatencyState(
        edges=histogram.edges,
        candidate=_add_counts(current.candidate, histogram.candidate),
        baseline=_add_counts(current.baseline, histogram.baseline),
        ranks=ranks,
        tail=tail,
        last=_OK,
        quantiles=current.quantiles.add(histogram.candidate, histogram.baseline),
    )


def _on_one_grid(
    current: LatencyState, histogram: HistogramObservation
) -> tuple[LatencyState, HistogramObservation]:
    """The state and a native interval moved onto one merged grid (analysis.native).

    Native layouts change from interval to interval (buckets appear as latency spreads, and a
    lower schema merges them), so instead of refusing a new layout the pooled counts and the
    interval are merged onto a grid that splits none of their populated buckets. The interval's
    rank statistics use its own grid (the caller keeps it): ranks compare the cohorts within an
    interval, so an earlier interval's coarser schema need not cost this one its resolution.
    """
    quantiles = current.quantiles
    try:
        edges = native.merged_grid(
            (
                (current.edges, (current.candidate, current.baseline, quantiles.reweighted_baseline)),
                (histogram.edges, (histogram.candidate, histogram.baseline)),
            )
        )
    except ObservationError as straddles:
        raise UnusableObservationError(str(straddles)) from None

    def whole(old: tuple[float, ...], counts: tuple[int, ...]) -> tuple[int, ...]:
        return tuple(round(count) for count in native.regrid(old, counts, edges)) if counts else ()

    def moved(old: tuple[float, ...], counts: tuple[float, ...]) -> tuple[float, ...]:
        return native.regrid(old, counts, edges) if counts else ()

    state = replace(
        current,
        edges=edges,
        candidate=whole(current.edges, current.candidate),
        baseline=whole(current.edges, current.baseline),
        quantiles=replace(
            quantiles,
            candidate=whole(current.edges, quantiles.candidate),
            reweighted_baseline=moved(current.edges, quantiles.reweighted_baseline),
        ),
    )
    interval = replace(
        histogram,
        edges=edges,
        candidate=whole(histogram.edges, histogram.candidate),
        baseline=whole(histogram.edges, histogram.baseline),
    )
    return state, interval


def _add_counts(total: tuple[int, ...], more: tuple[int, ...]) -> tuple[int, ...]:
    if not total:
        return more
    return tuple(a + b for a, b in zip(total, more, strict=True))


def _update_drift(metric: DriftCriteria, current: DriftState, observation: Observation) -> DriftState:
    if metric.numeric:
        histogram = _expect(observation, HistogramObservation, metric)
        _check_layout(current.edges, histogram.edges)
        evidence = current.evidence.add(
            histogram.candidate, histogram.baseline, histogram.invalid_candidate, histogram.invalid_baseline
        )
        return DriftState(edges=histogram.edges, evidence=evidence, last=_OK)
    counted = _expect(observation, ClassObservation, metric)
    classes = current.classes + tuple(name for name in counted.classes if name not in current.classes)
    grown = _grow_classes(current.evidence, len(classes))
    position = {name: index for index, name in enumerate(counted.classes)}

    def aligned(counts: tuple[int, ...]) -> list[int]:
        return [counts[position[name]] if name in position else 0 for name in classes]

    evidence = grown.add(
        aligned(counted.candidate),
        aligned(counted.baseline),
        counted.invalid_candidate,
        counted.invalid_baseline,
    )
    return DriftState(classes=classes, evidence=evidence, last=_OK)


def _grow_classes(evidence: DriftEvidence, size: int) -> DriftEvidence:
    """The evidence with zero counts for classes first seen now (classes appear over time)."""
    if not evidence.candidate:
        return evidence
    extra = size - len(evidence.candidate)
    return replace(
        evidence,
        candidate=evidence.candidate + (0,) * extra,
        baseline=evidence.baseline + (0,) * extra,
        reference=evidence.reference + (0.0,) * extra,
    )


def _update_guard(metric: GuardCriteria, current: GuardState, observation: Observation) -> GuardState:
    value = _expect(observation, ScalarObservation, metric).value
    breached = (metric.max is not None and value > metric.max) or (
        metric.min is not None and value < metric.min
    )
    return GuardState(
        last_value=value,
        breaches_in_row=current.breaches_in_row + 1 if breached else 0,
        values=current.values + 1,
        last=_OK,
    )
