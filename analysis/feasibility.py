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

from analysis.criteria import (
    DriftCriteria,
    ErrorRateCriteria,
    LatencyCriteria,
    MetricCriteria,
    MinEvidence,
    TrafficForecast,
)
from analysis.rates import MIN_MARGIN, RateEvidence, non_inferiority_margin, requests_needed
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
) -> MetricFeasibility:
    need = state.criteria.min_evidence
    margin = non_inferiority_margin(rates.baseline_rate, margin_setting, margin_floor)
    needed = requests_needed(need.requests, need.errors, rates.baseline_rate, margin)
    reachable = rates.candidate_requests + forecast.candidate_per_interval * max(forecast.intervals, 0)
    rate = max(rates.baseline_rate, margin)
    radius = _radius(state.tuning, rates.weight + _forecast_weight(forecast), math.sqrt(rate * (1 - rate)))
    feasible = reachable >= needed and radius < margin
    return MetricFeasibility(
        name,
        feasible,
        f"{name}: needs {needed:,} candidate requests ({need.errors:g} expected {events} at "
        f"{100 * rate:.2f}%), the forecast reaches {reachable:,.0f}; bound +/-{100 * radius:.2f}pp "
        f"vs margin {100 * margin:.2f}pp",
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
    room = metric.pass_below - 0.5
    location = MetricFeasibility(
        metric.name,
        reachable >= need.requests and radius < room,
        f"{metric.name}: needs {need.requests:,} candidate requests, the forecast reaches "
        f"{reachable:,.0f}; CLES bound +/-{radius:.3f} vs room {room:.2f}",
        need.requests,
        reachable,
    )
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
    )
    return MetricFeasibility(
        metric.name,
        location.feasible and tail.feasible,
        f"{location.reason}; {tail.reason.split(': ', 1)[1]}",
        max(location.needed or 0, tail.needed or 0),
        reachable,
    )
