"""The accumulated analysis state: sufficient statistics per metric and the tuning constants.

Why sufficient statistics: the controller looks once per interval and never re-queries history,
so everything a verdict needs (running e-process products, weighted sums, bucket counts) is
carried forward here and stored in the ModelRollout status, per metric under
``status.analysis.metrics[].state`` and the tuning under ``status.analysis.tuning``. Both
round-trip through JSON exactly (analysis.serial), so a restarted controller judges the same.

Each metric state also remembers how its last look went (ok, no data, query failed) because a
failed query must show as ERROR at that look even though the evidence before it stays valid.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from analysis.bounds import RunningBounds
from analysis.criteria import AnalysisCriteria, MetricCriteria
from analysis.drift import DriftEvidence
from analysis.quantiles import QuantileEvidence
from analysis.ranks import RankEvidence
from analysis.rates import EProcess, RateEvidence
from analysis.serial import StateError, from_json, to_json

STATE_VERSION = 1
"""Bump when a state's meaning changes (fields, the ratio grid); older states are refused."""

Outcome = Literal["pending", "ok", "no_data", "error"]


@dataclass(frozen=True)
class LastLook:
    """How the latest look at a metric went; ``message`` explains no_data and error."""

    outcome: Outcome = "pending"
    message: str = ""


@dataclass(frozen=True)
class ErrorRateState:
    """Error-rate evidence, with the hard-limit e-process (unused without a hard limit)."""

    kind: Literal["errorRate"] = "errorRate"
    rates: RateEvidence = field(default_factory=RateEvidence)
    hard_limit: EProcess = field(default_factory=EProcess)
    last: LastLook = field(default_factory=LastLook)
    errors_matched: bool = False
    """Whether the errors query has matched a series (either cohort) in any interval so far.

    Until it has, the metric cannot PASS (analysis.judge): zero errors from a query that matches
    nothing is a typo, not evidence. Kept here, in status, so a restarted controller remembers;
    a state stored before this field existed reads as False and the next look that matches sets
    it (losing at most one look's PASS, never allowing a wrong one).
    """
    bounds: RunningBounds = field(default_factory=RunningBounds)
    """Running intersection of the bounds on the rate difference over the looks with minimum
    evidence (analysis.bounds): the PASS bound never goes back up."""


@dataclass(frozen=True)
class LatencyState:
    """Latency evidence: bucket layout, counts for display, ranks, and the SLO tail as a rate."""

    kind: Literal["latency"] = "latency"
    edges: tuple[float, ...] = ()
    candidate: tuple[int, ...] = ()
    """Requests per bucket over all intervals (display and plots)."""
    baseline: tuple[int, ...] = ()
    ranks: RankEvidence = field(default_factory=RankEvidence)
    tail: RateEvidence = field(default_factory=RateEvidence)
    """Requests above the SLO as events (unused without an SLO)."""
    last: LastLook = field(default_factory=LastLook)
    quantiles: QuantileEvidence = field(default_factory=QuantileEvidence)
    """Counts for the quantile tolerance (analysis.quantiles); empty in a state stored before it
    existed, and then the judge compares the pooled counts above until a fresh analysis."""
    location_bounds: RunningBounds = field(default_factory=RunningBounds)
    """Running intersection of the CLES bounds over the looks with minimum evidence."""
    tail_bounds: RunningBounds = field(default_factory=RunningBounds)
    """Running intersection of the bounds on the difference in shares above the SLO."""


@dataclass(frozen=True)
class DriftState:
    """Prediction counts: numeric bucket edges or class names, and the drift evidence."""

    kind: Literal["drift"] = "drift"
    edges: tuple[float, ...] = ()
    classes: tuple[str, ...] = ()
    evidence: DriftEvidence = field(default_factory=DriftEvidence)
    last: LastLook = field(default_factory=LastLook)


@dataclass(frozen=True)
class GuardState:
    """The latest candidate value and how many looks in a row breached the bound."""

    kind: Literal["guard"] = "guard"
    last_value: float | None = None
    breaches_in_row: int = 0
    values: int = 0
    """Looks that returned a value."""
    last: LastLook = field(default_factory=LastLook)


MetricState = ErrorRateState | LatencyState | DriftState | GuardState

_STATE_CLASSES: dict[str, type[MetricState]] = {
    "errorRate": ErrorRateState,
    "latency": LatencyState,
    "drift": DriftState,
    "guard": GuardState,
}


def fresh_state(metric: MetricCriteria) -> MetricState:
    """The state of a metric before its first look."""
    return _STATE_CLASSES[metric.kind]()


def metric_state_to_json(state: MetricState) -> dict[str, Any]:
    """The state as stored in ``status.analysis.metrics[].state``."""
    return {"version": STATE_VERSION, **to_json(state)}


_ADDED_FIELDS: dict[str, dict[str, object]] = {
    "errorRate": {"errors_matched": False, "bounds": {"lower": None, "upper": None, "clearance": None}},
    "latency": {
        "quantiles": {"candidate": [], "reweighted_baseline": [], "baseline_spread": 0.0},
        "location_bounds": {"lower": None, "upper": None, "clearance": None},
        "tail_bounds": {"lower": None, "upper": None, "clearance": None},
    },
}
"""Fields added to a state kind after STATE_VERSION 1 was released, with the value a state
stored without them reads as: adding a field this way keeps stored states readable (no version
bump, no restart that forgets the evidence)."""


def metric_state_from_json(data: Mapping[str, Any]) -> MetricState:
    """Read a stored metric state back; StateError when it is not one this version wrote."""
    if data.get("version") != STATE_VERSION:
        raise StateError(f"state version {data.get('version')!r} is not {STATE_VERSION}")
    kind = data.get("kind")
    if kind not in _STATE_CLASSES:
        raise StateError(f"unknown metric state kind {kind!r}")
    body = {**_ADDED_FIELDS.get(str(kind), {})}
    body.update((key, value) for key, value in data.items() if key != "version")
    return from_json(_STATE_CLASSES[kind], body)


@dataclass(frozen=True)
class Tuning:
    """Constants fixed when analysis starts, stored so a restart computes the same numbers.

    ``rho2`` is the width of every normal-mixture confidence sequence (analysis.sequential),
    chosen so the bounds are tightest at ``expected_samples`` (the effective sample size,
    sum of n_c n_b / (n_c + n_b) over the intervals expected); ``alpha`` is the rollout's
    false-rollback rate as it was at the start (a later spec edit cannot loosen it mid-way).
    """

    alpha: float
    expected_samples: float
    rho2: float

    def to_status(self) -> dict[str, float]:
        """``status.analysis.tuning``: flat names to numbers."""
        return {"alpha": self.alpha, "expectedSamples": self.expected_samples, "rho2": self.rho2}

    @classmethod
    def from_status(cls, tuning: Mapping[str, float]) -> Tuning:
        """Read ``status.analysis.tuning`` back; StateError when a constant is missing."""
        try:
            return cls(
                alpha=float(tuning["alpha"]),
                expected_samples=float(tuning["expectedSamples"]),
                rho2=float(tuning["rho2"]),
            )
        except (KeyError, TypeError, ValueError) as unreadable:
            raise StateError(f"tuning {dict(tuning)!r} is incomplete: {unreadable}") from None


@dataclass(frozen=True)
class AnalysisState:
    """Criteria, tuning and per-metric state: everything :func:`analysis.judge.judge` reads."""

    criteria: AnalysisCriteria
    tuning: Tuning
    metrics: Mapping[str, MetricState]

    def metric_state_json(self, name: str) -> dict[str, Any]:
        """The state of metric ``name`` for ``status.analysis.metrics[].state``."""
        return metric_state_to_json(self.metrics[name])


def restore(
    criteria: AnalysisCriteria, tuning: Mapping[str, float], metric_states: Mapping[str, Mapping[str, Any]]
) -> AnalysisState:
    """Rebuild the state from status after a restart (or a spec edit).

    A metric with no stored state, or whose kind changed, starts fresh; a stored state of a
    metric no longer in the criteria is dropped. Unreadable states raise StateError.
    """
    metrics: dict[str, MetricState] = {}
    for metric in criteria.metrics:
        stored = metric_states.get(metric.name)
        if stored and stored.get("kind") == metric.kind:
            metrics[metric.name] = metric_state_from_json(stored)
        else:
            metrics[metric.name] = fresh_state(metric)
    return AnalysisState(criteria=criteria, tuning=Tuning.from_status(tuning), metrics=metrics)
