"""What the analysis is asked to judge: criteria per metric, mirroring the ModelRollout spec.

Why our own dataclasses instead of the spec's pydantic models: this package knows nothing of
``rollouts/`` (an import-linter contract enforces it), so it can be used and tested offline on
plain numbers. ``rollouts.controller.core.analysis_config`` maps a spec onto these classes;
every default lives in the spec, so here every field is required except where the statistics
own the default.

Query fields are PromQL templates (``{{version}}``, ``{{interval}}`` and user variables); only the
providers read them, the statistics never do.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Literal

OnFail = Literal["hold", "rollback"]


class HistogramKind(StrEnum):
    """How a latency histogram is exposed: classic ``_bucket{le}`` counters or native buckets.

    Native (exponential) buckets give far finer ranks (analysis.native); classic stays the
    default because every Prometheus and client library has it.
    """

    CLASSIC = "classic"
    NATIVE = "native"


@dataclass(frozen=True)
class MinEvidence:
    """The evidence a metric needs before it may PASS (harm may be found earlier).

    ``errors`` counts expected candidate events (errors, or requests above the SLO) at the
    baseline's rate, or at the non-inferiority margin when the baseline's rate is lower: a
    baseline with no errors at all must not make a PASS impossible, and showing an increase is
    below a margin m takes about 1/m requests per expected event anyway.
    """

    requests: int = 500
    errors: float = 10.0
    predictions: int = 200


@dataclass(frozen=True)
class ErrorRateCriteria:
    """Candidate vs baseline error rate from an errors counter and a requests counter."""

    name: str
    errors_query: str
    total_query: str
    max_ratio: float = 1.25
    max_increase: float = 0.001
    hard_limit: float | None = None
    margin: float | None = None
    """Non-inferiority margin on p_c - p_b; None: max(0.5 x baseline rate, 0.001)."""

    kind: Literal["errorRate"] = field(default="errorRate", init=False)


@dataclass(frozen=True)
class LatencyTolerance:
    """How much slower the candidate may be, in people's terms (analysis.quantiles).

    At each quantile q the candidate's q-quantile may be at most
    max(ratio x baseline's, baseline's + milliseconds): "at most 10% or 10 ms slower at the
    median and p90" by default.
    """

    quantiles: tuple[float, ...] = (0.5, 0.9)
    ratio: float = 1.1
    milliseconds: float = 10.0


@dataclass(frozen=True)
class LatencyCriteria:
    """Candidate vs baseline latency from a histogram's bucket counters.

    Harm needs the rank test (Holm) AND every practical gate that is set: ``max_shift`` (CLES,
    0.55) and ``tolerance`` (at most 10% or 10 ms slower at the median and p90). PASS needs the
    candidate shown on the right side of either: its CLES bound below ``pass_below`` or every
    quantile bound within the tolerance (analysis.judge). None turns a gate off (the spec always
    sets both).
    """

    name: str
    buckets_query: str
    slo: float | None = None
    max_shift: float | None = 0.55
    tail_ratio: float = 1.25
    tail_increase: float = 0.005
    tolerance: LatencyTolerance | None = field(default_factory=LatencyTolerance)
    histogram: HistogramKind = HistogramKind.CLASSIC
    """CLASSIC: ``buckets_query`` selects ``_bucket`` series; NATIVE: native histogram series."""

    kind: Literal["latency"] = field(default="latency", init=False)

    def __post_init__(self) -> None:
        if self.tolerance is None and self.max_shift is None:
            raise ValueError(f"latency metric {self.name!r} needs a tolerance, a maxShift, or both")
        if self.histogram is HistogramKind.NATIVE and self.slo is not None:
            raise ValueError(f"latency metric {self.name!r}: slo needs classic buckets (an edge at the slo)")

    @property
    def pass_below(self) -> float | None:
        """CLES the upper bound must stay below to PASS: maxShift + 0.01; None without maxShift.

        A hundredth above the fail gate, so a candidate whose true CLES sits just under the
        gate can still be shown non-inferior instead of waiting forever.
        """
        return None if self.max_shift is None else self.max_shift + 0.01

    @property
    def display_quantiles(self) -> tuple[float, ...]:
        """The quantiles a reason shows: the tolerance's, else the median and p90."""
        return self.tolerance.quantiles if self.tolerance is not None else (0.5, 0.9)


@dataclass(frozen=True)
class ScoreRange:
    """The range valid predictions fall in; mass outside it is a sanity failure."""

    low: float
    high: float


@dataclass(frozen=True)
class DriftCriteria:
    """Prediction drift: PSI on a score histogram (by == "le") or Jensen-Shannon on classes."""

    name: str
    buckets_query: str
    by: str = "le"
    warn: float = 0.1
    fail: float = 0.25
    on_fail: OnFail = "hold"
    invalid_query: str | None = None
    max_invalid_ratio: float = 0.01
    score_range: ScoreRange | None = None

    kind: Literal["drift"] = field(default="drift", init=False)

    @property
    def numeric(self) -> bool:
        """True for a histogram of scores (PSI), False for class counts (Jensen-Shannon)."""
        return self.by == "le"


@dataclass(frozen=True)
class GuardCriteria:
    """An absolute bound on a candidate-only scalar, breached ``consecutive`` looks in a row."""

    name: str
    query: str
    max: float | None = None
    min: float | None = None
    consecutive: int = 2

    kind: Literal["guard"] = field(default="guard", init=False)


MetricCriteria = ErrorRateCriteria | LatencyCriteria | DriftCriteria | GuardCriteria


@dataclass(frozen=True)
class AnalysisCriteria:
    """Everything the judge needs from the spec: alpha, minimum evidence and the metrics."""

    metrics: tuple[MetricCriteria, ...]
    alpha: float = 0.05
    min_evidence: MinEvidence = field(default_factory=MinEvidence)

    def metric(self, name: str) -> MetricCriteria:
        """The criteria of the metric called ``name``; KeyError when there is none."""
        for metric in self.metrics:
            if metric.name == name:
                return metric
        raise KeyError(name)


@dataclass(frozen=True)
class TrafficForecast:
    """Traffic expected per interval, and how many intervals are left to look at.

    Used twice: when analysis starts, to tune the confidence sequences for the expected sample
    size; and at each step start, to say whether the step can reach the minimum evidence.
    """

    candidate_per_interval: float
    baseline_per_interval: float
    intervals: int
