"""Seeded synthetic rollouts: what the simulations in bench/ and the test suite feed the engine.

Why in the package: the acceptance numbers in docs/analysis.md (A/A false rollbacks, power,
looks to decision) must come from the very engine the controller runs, fed through its public
``start``/``update``/``judge``; the test suite runs a smaller seeded version of the same
scenarios. Pure: a numpy Generator comes in, observations come out.

The model of one look: a total load (swinging sinusoidally by ``load_swing`` across the run),
split between the cohorts by the candidate's weight; requests are spread over pods, each with its
own multiplier on error rate and latency (uniform in 1 +/- ``pod_spread``, fixed per run). Errors
are Bernoulli, latencies lognormal, scores normal (the candidate's shifted by ``score_shift``
standard deviations), and a busier look is slower and fails more for both cohorts alike.

``raw_looks`` gives the same looks with what a metrics system would also hold (latency sums for
a mean, sums of squares for a t-test), so other judges (bench/peers.py) see the very data the
engine sees; drawing them takes nothing more from the generator, so a seed means the same run.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from analysis.criteria import (
    AnalysisCriteria,
    DriftCriteria,
    ErrorRateCriteria,
    LatencyCriteria,
    TrafficForecast,
)
from analysis.engine import start, update
from analysis.judge import MetricJudgement, judge
from analysis.observations import HistogramObservation, IntervalObservations, RateCounts, RateObservation
from analysis.verdicts import Action, Verdict

LATENCY_EDGES = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
"""Prometheus client default histogram buckets."""
SCORE_EDGES = tuple(float(edge) for edge in np.round(np.linspace(-3.0, 3.0, 25), 2))

CRITERIA = AnalysisCriteria(
    metrics=(
        ErrorRateCriteria("errors", "", ""),
        LatencyCriteria("latency", "", slo=0.5),
        DriftCriteria("scores", ""),
    )
)
"""The rollout every scenario judges: error rate, latency with an SLO tail, score drift."""


@dataclass(frozen=True)
class Scenario:
    """One simulated rollout's traffic and how the candidate differs from the baseline."""

    name: str
    looks: int = 60
    requests_per_look: float = 1000.0
    candidate_weight: float = 0.05
    weight_steps: tuple[float, ...] = ()
    """Weights for equal parts of the run (a staged rollout); empty: candidate_weight throughout."""
    error_rate: float = 0.01
    error_ratio: float = 1.0
    latency_median: float = 0.1
    latency_sigma: float = 0.6
    latency_ratio: float = 1.0
    score_shift: float = 0.0
    pod_spread: float = 0.0
    load_swing: float = 0.0
    candidate_pods: int = 1
    baseline_pods: int = 19

    def weight_at(self, look: int) -> float:
        """The candidate's weight at a look (steps split the run into equal parts)."""
        if not self.weight_steps:
            return self.candidate_weight
        return self.weight_steps[min(look * len(self.weight_steps) // self.looks, len(self.weight_steps) - 1)]

    def forecast(self) -> TrafficForecast:
        """The traffic forecast the controller would pass to ``start``."""
        c = self.requests_per_look * self.weight_at(0)
        return TrafficForecast(c, self.requests_per_look - c, self.looks)


@dataclass(frozen=True)
class CohortLook:
    """One cohort's raw counts at one look, as a metrics system would store them."""

    requests: int
    errors: int
    latency_counts: tuple[int, ...]
    """Requests per latency bucket: one per edge of ``LATENCY_EDGES`` (upper bound), then +Inf."""
    latency_sum: float
    """Sum of the latencies in seconds (a Prometheus histogram's ``_sum``)."""
    latency_sum_squares: float
    score_counts: tuple[int, ...]


@dataclass(frozen=True)
class RawLook:
    """One look: each cohort's raw counts and the observations the engine is fed."""

    candidate: CohortLook
    baseline: CohortLook
    observations: IntervalObservations


def _cohort(
    rng: np.random.Generator,
    scenario: Scenario,
    requests: int,
    multipliers: np.ndarray,
    *,
    busy: float,
    candidate: bool,
) -> CohortLook:
    pods = multipliers[rng.integers(0, len(multipliers), requests)]
    error_rate = scenario.error_rate * busy * pods * (scenario.error_ratio if candidate else 1.0)
    errors = int((rng.random(requests) < np.minimum(error_rate, 1.0)).sum())
    median = scenario.latency_median * busy * pods * (scenario.latency_ratio if candidate else 1.0)
    latency = rng.lognormal(np.log(median), scenario.latency_sigma)
    scores = rng.normal(scenario.score_shift if candidate else 0.0, 1.0, requests)
    latency_counts = np.bincount(np.searchsorted(LATENCY_EDGES, latency), minlength=len(LATENCY_EDGES) + 1)
    score_counts = np.bincount(np.searchsorted(SCORE_EDGES, scores), minlength=len(SCORE_EDGES) + 1)
    return CohortLook(
        requests,
        errors,
        tuple(int(count) for count in latency_counts),
        float(latency.sum()),
        float(np.square(latency).sum()),
        tuple(int(count) for count in score_counts),
    )


def raw_looks(scenario: Scenario, rng: np.random.Generator) -> list[RawLook]:
    """Every look of one simulated rollout, raw counts beside the engine's observations."""
    candidate_pods = 1.0 + rng.uniform(-scenario.pod_spread, scenario.pod_spread, scenario.candidate_pods)
    baseline_pods = 1.0 + rng.uniform(-scenario.pod_spread, scenario.pod_spread, scenario.baseline_pods)
    looks: list[RawLook] = []
    for look in range(scenario.looks):
        phase = np.sin(2.0 * np.pi * look / scenario.looks)
        load = 1.0 + scenario.load_swing * phase
        busy = 1.0 + 0.2 * scenario.load_swing * phase
        total = rng.poisson(scenario.requests_per_look * load)
        candidate_n = rng.binomial(total, scenario.weight_at(look))
        c = _cohort(rng, scenario, candidate_n, candidate_pods, busy=busy, candidate=True)
        b = _cohort(rng, scenario, total - candidate_n, baseline_pods, busy=busy, candidate=False)
        interval: IntervalObservations = {
            "errors": RateObservation(RateCounts(c.requests, c.errors), RateCounts(b.requests, b.errors)),
            "latency": HistogramObservation(LATENCY_EDGES, c.latency_counts, b.latency_counts),
            "scores": HistogramObservation(SCORE_EDGES, c.score_counts, b.score_counts),
        }
        looks.append(RawLook(c, b, interval))
    return looks


def observations(scenario: Scenario, rng: np.random.Generator) -> list[IntervalObservations]:
    """The observations of every look of one simulated rollout."""
    return [look.observations for look in raw_looks(scenario, rng)]


@dataclass(frozen=True)
class RunOutcome:
    """When (1-based look) a simulated rollout first rolled back, held, passed, or flagged drift."""

    rollback: int | None
    hold: int | None
    passed: int | None
    drift_flagged: int | None
    """First look where drift reached warn above the noise floor (with minimum evidence)."""
    rollback_reason: str = ""


def run(scenario: Scenario, seed: int, criteria: AnalysisCriteria = CRITERIA) -> RunOutcome:
    """Run one rollout through start/update/judge until a rollback or the last look."""
    rng = np.random.default_rng(seed)
    state = start(criteria, scenario.forecast())
    hold = passed = flagged = None
    for look, interval in enumerate(observations(scenario, rng), start=1):
        state = update(state, interval)
        judgement = judge(state)
        if judgement.action is Action.ROLLBACK:
            return RunOutcome(look, hold, passed, flagged, judgement.reason)
        if judgement.action is Action.HOLD and hold is None:
            hold = look
        if judgement.verdict is Verdict.PASS and passed is None:
            passed = look
        drift = next((m for m in judgement.metrics if m.kind == "drift"), None)
        if flagged is None and drift is not None and _drift_flagged(drift, criteria):
            flagged = look
    return RunOutcome(None, hold, passed, flagged)


def _drift_flagged(drift: MetricJudgement, criteria: AnalysisCriteria) -> bool:
    """Drift at warn or above, above the noise floor, with the minimum predictions."""
    if drift.verdict is Verdict.FAIL:
        return True
    warn = criteria.metric(drift.name)
    enough = (drift.candidate_samples or 0) >= criteria.min_evidence.predictions
    floor = drift.details.get("noise_floor", math.inf)
    return (
        isinstance(warn, DriftCriteria)
        and enough
        and drift.effect is not None
        and drift.effect >= warn.warn
        and drift.effect > floor
    )
