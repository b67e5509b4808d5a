"""Can a step reach the evidence a PASS needs? An estimate from the traffic forecast.

Why: at 5% weight and a quiet hour a 15-minute analyze step may never see the 10 expected
candidate errors a PASS needs, and a rollout that silently waits out every step is worse than
one that says so at the start. At each step start the controller asks, per metric: by the end of
the forecast, will the candidate have the minimum evidence, and will the always-valid bound be
narrow enough to clear the margin if the candidate is as good as the baseline?

The bound's expected radius at effective sample size tau (the sum of n_c n_b / (n_c + n_b)) is
z*(rho^2 tau, alpha) * sd, with sd = sqrt(p (1 - p) / tau) for a rate difference at rate p and
sqrt(1 / (12 tau)) for CLES (no ties). Worked example: baseline rate 1%, 50 candidate and 950
baseline requests per interval for 15 intervals: tau = 712.5; at rho^2 = 0.00235 (tuned for 60
intervals), z* = 2.99 and the radius is 2.99 * sqrt(0.0099 / 712.5) = 1.12pp > margin 0.5pp:
not feasible; and the 750 candidate requests fall short of the 1,000 needed for 10 errors.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from analysis.bounds import RunningBounds, rate_requests_needed, tail_requests_needed
from analysis.criteria import (
    DriftCriteria,
    ErrorRateCriteria,
    LatencyCriteria,
    MetricCriteria,
    MinEvidence,
    TrafficForecast,
)
from analysis.quantiles import QuantileEvidence, compare_quantile, seconds
from analysis.rates import MIN_MARGIN, RateEvidence, non_inferiority_margin
from analysis.sequential import boundary
from analysis.state import AnalysisState, DriftState, ErrorRateState, LatencyState, MetricState, Tuning


@dataclass(frozen=True)
class MetricFeasibility:
    """Whether one metric can reach a PASS by the end of the forecast, and why."""

    name: str
    feasible: bool
    reason: str
    needed: int | None = None
    """Candidate samples (requests or predictions) a PASS needs; None when nothing is needed."""
    reachable: float | None = None
    """Candidate samples expected by the end of the forecast."""


def feasibility(state: AnalysisState, forecast: TrafficForecast) -> tuple[MetricFeasibility, ...]:
    """Per metric: can the forecast traffic bring it to a PASS? (module docstring)."""
    return tuple(
        _metric_feasibility(metric, state.metrics[metric.name], state, forecast)
        for metric in state.criteria.metrics
    )


def _forecast_weight(forecast: TrafficForecast) -> float:
    c, b = forecast.candidate_per_interval, forecast.baseline_per_interval
    return forecast.intervals * c * b / (c + b) if c > 0 and b > 0 else 0.0


def _radius(tuning: Tuning, tau: float, sd_unit: float) -> float:
    if tau <= 0.0:
        return math.inf
    return boundary(tuning.rho2 * tau, tuning.alpha) * sd_unit / math.sqrt(tau)


def _metric_feasibility(
    metric: MetricCriteria, current: MetricState, state: AnalysisState, forecast: TrafficForecast
) -> MetricFeasibility:
    need = state.criteria.min_evidence
    more = forecast.candidate_per_interval * max(forecast.intervals, 0)
    if isinstance(metric, ErrorRateCriteria) and isinstance(current, ErrorRateState):
        return _rate_feasibility(
            metric.name,
            "errors",
            current.rates,
            margin_setting=metric.margin,
            margin_floor=MIN_MARGIN,
            state=state,
            forecast=forecast,
            bounds=current.bounds,
        )
    if isinstance(metric, LatencyCriteria) and isinstance(current, LatencyState):
        return _latency_feasibility(metric, current, state, forecast, need)
    if isinstance(metric, DriftCriteria) and isinstance(current, DriftState):
        reachable = current.evidence.candidate_total + more
        feasible = reachable >= need.predictions
        return MetricFeasibility(
            metric.name,
            feasible,
            f"{metric.name}: needs {need.predictions:,} candidate predictions, "
            f"the forecast reaches {reachable:,.0f}",
            need.predictions,
            reachable,
        )
    return MetricFeasibility(metric.name, True, f"{metric.name}: a guard needs no minimum evidence")


def _rate_feasibility(
    name: str,
    events: str,
    rates: RateEvidence,
    *,
    margin_setting: float | None,
    margin_floor: float,
    state: AnalysisState,
    forecast: TrafficForecast,
    bounds: RunningBounds,
    tail: bool = False,
) -> MetricFeasibility:
    """The judge's rate rule ahead of time: its minimum evidence (analysis.bounds) and margin."""
    need = state.criteria.min_evidence
    p_b = rates.baseline_rate
    margin = non_inferiority_margin(p_b, margin_setting, margin_floor)
    if tail:
        needed = tail_requests_needed(need, p_b, margin)
        counted_at = f"{100 * (p_b + margin):.2f}% = share {100 * p_b:.2f}% + margin {100 * margin:.2f}%"
    else:
        needed = rate_requests_needed(need, p_b, margin)
        counted_at = f"{100 * max(p_b, margin):.2f}%"
    reachable = rates.candidate_requests + forecast.candidate_per_interval * max(forecast.intervals, 0)
    if bounds.counted:  # minimum evidence met at an earlier look stays met (analysis.bounds)
        needed = min(needed, rates.candidate_requests)
    rate = max(p_b, margin)
    radius = _radius(state.tuning, rates.weight + _forecast_weight(forecast), math.sqrt(rate * (1 - rate)))
    shown = bounds.upper is not None and bounds.upper < margin
    feasible = shown or (reachable >= needed and radius < margin)
    reached = f"; the bound already reached +{100 * (bounds.upper or 0.0):.2f}pp" if shown else ""
    return MetricFeasibility(
        name,
        feasible,
        f"{name}: needs {needed:,} candidate requests ({need.errors:g} expected {events} at "
        f"{counted_at}), the forecast reaches {reachable:,.0f}; bound +/-{100 * radius:.2f}pp "
        f"vs margin {100 * margin:.2f}pp{reached}",
        needed,
        reachable,
    )


def _latency_feasibility(
    metric: LatencyCriteria,
    current: LatencyState,
    state: AnalysisState,
    forecast: TrafficForecast,
    need: MinEvidence,
) -> MetricFeasibility:
    reachable = sum(current.candidate) + forecast.candidate_per_interval * max(forecast.intervals, 0)
    radius = _radius(state.tuning, current.ranks.weight + _forecast_weight(forecast), math.sqrt(1 / 12))
    said = [
        f"{metric.name}: needs {need.requests:,} candidate requests, the forecast reaches {reachable:,.0f}"
    ]
    shown: list[bool] = []  # a PASS needs either bound (analysis.judge), so either may suffice
    if metric.pass_below is not None:
        room = metric.pass_below - 0.5
        shown.append(radius < room)
        said.append(f"CLES bound +/-{radius:.3f} vs room {room:.2f}")
    if metric.tolerance is not None:
        tolerance_ok, tolerance_said = _tolerance_feasibility(metric, current, state.tuning, reachable)
        shown.append(tolerance_ok)
        said.append(tolerance_said)
    feasible = reachable >= need.requests and any(shown)
    location = MetricFeasibility(metric.name, feasible, "; ".join(said), need.requests, reachable)
    if metric.slo is None:
        return location
    tail = _rate_feasibility(
        metric.name,
        f"requests above {metric.slo:g}s",
        current.tail,
        margin_setting=None,
        margin_floor=metric.tail_increase,
        state=state,
        forecast=forecast,
        bounds=current.tail_bounds,
        tail=True,
    )
    return MetricFeasibility(
        metric.name,
        location.feasible and tail.feasible,
        f"{location.reason}; {tail.reason.split(': ', 1)[1]}",
        max(location.needed or 0, tail.needed or 0),
        reachable,
    )


def _tolerance_feasibility(
    metric: LatencyCriteria, current: LatencyState, tuning: Tuning, reachable: float
) -> tuple[bool, str]:
    """Whether the quantile bounds would fit the tolerance at ``reachable`` candidate requests.

    The histograms seen so far give the shapes (interpolation slopes); an identical candidate is
    assumed (its estimate at the baseline's). Before any data it cannot be told: feasible.
    """
    tolerance = metric.tolerance
    evidence = current.quantiles
    if tolerance is None or not evidence.candidate_total or not current.edges:
        return True, "tolerance bounds: shapes not seen yet"
    projected = evidence.projected(reachable)
    projected = QuantileEvidence(
        candidate=tuple(round(count) for count in projected.reweighted_baseline),
        reweighted_baseline=projected.reweighted_baseline,
        baseline_spread=projected.baseline_spread,
    )
    said: list[str] = []
    feasible = True
    for q in tolerance.quantiles:
        c = compare_quantile(
            projected,
            current.edges,
            q,
            tolerance=(tolerance.ratio, tolerance.milliseconds),
            rho2=tuning.rho2,
            alpha=tuning.alpha,
        )
        if c is None:
            continue
        feasible = feasible and c.within
        said.append(f"{c.name} bound {seconds(c.candidate_upper)} vs allowed {seconds(c.allowed_lower)}")
    return feasible, "if identical: " + ", ".join(said)
