"""From the ModelRollout spec to the analysis engine's criteria: the one place they meet.

Why a mapping module: ``analysis`` knows nothing of ``rollouts`` (an import-linter contract), so
it has its own criteria dataclasses; the controller and ``rollouts analyze`` both build them
here, so the two can never judge the same spec differently. Defaults live in the spec models;
this module copies values, it decides nothing.
"""

from __future__ import annotations

from analysis import (
    AnalysisCriteria,
    DriftCriteria,
    ErrorRateCriteria,
    GuardCriteria,
    LatencyCriteria,
    LatencyTolerance,
    MetricCriteria,
    MinEvidence,
    ScoreRange,
)
from rollouts.api.spec import Analysis, Metric
from rollouts.api.spec import MinEvidence as SpecMinEvidence


def analysis_criteria(analysis: Analysis) -> AnalysisCriteria:
    """The criteria the engine judges ``spec.analysis`` by."""
    evidence = analysis.min_evidence or SpecMinEvidence()
    return AnalysisCriteria(
        metrics=tuple(metric_criteria(metric) for metric in analysis.metrics),
        alpha=analysis.alpha,
        min_evidence=MinEvidence(
            requests=evidence.requests, errors=evidence.errors, predictions=evidence.predictions
        ),
    )


def metric_criteria(metric: Metric) -> MetricCriteria:
    """The criteria of one spec metric (exactly one kind is set; the spec guarantees it)."""
    if metric.error_rate is not None:
        rate = metric.error_rate
        return ErrorRateCriteria(
            name=metric.name,
            errors_query=rate.errors,
            total_query=rate.total,
            max_ratio=rate.max_ratio,
            max_increase=rate.max_increase,
            hard_limit=rate.hard_limit,
            margin=rate.margin,
        )
    if metric.latency is not None:
        latency = metric.latency
        return LatencyCriteria(
            name=metric.name,
            buckets_query=latency.buckets,
            histogram=latency.histogram,
            slo=latency.slo,
            max_shift=latency.max_shift,
            tail_ratio=latency.tail_ratio,
            tail_increase=latency.tail_increase,
            tolerance=LatencyTolerance(
                quantiles=latency.tolerance.quantiles,
                ratio=latency.tolerance.ratio,
                milliseconds=latency.tolerance.milliseconds,
            ),
        )
    if metric.drift is not None:
        drift = metric.drift
        return DriftCriteria(
            name=metric.name,
            buckets_query=drift.buckets,
            by=drift.by,
            warn=drift.warn,
            fail=drift.fail,
            on_fail=drift.on_fail,
            invalid_query=drift.invalid,
            max_invalid_ratio=drift.max_invalid_ratio,
            score_range=(
                None if drift.range is None else ScoreRange(low=drift.range.min, high=drift.range.max)
            ),
        )
    if metric.guard is not None:
        guard = metric.guard
        return GuardCriteria(
            name=metric.name, query=guard.query, max=guard.max, min=guard.min, consecutive=guard.consecutive
        )
    raise ValueError(f"metric {metric.name!r} sets no kind")
