"""Canary-versus-baseline statistics and metric providers.

This package knows nothing of ``rollouts/`` (an import-linter contract enforces it): it takes
counts and criteria and returns verdicts. Everything outside ``analysis.providers`` is pure: no
I/O, no clock; data and times come in as arguments. The method, the defaults and the
simulation results are in docs/analysis.md.

How the controller uses it, once per interval::

    from analysis import (AnalysisCriteria, TrafficForecast, start, restore, update, judge,
                          feasibility)

    criteria = rollouts.controller.core.analysis_config.analysis_criteria(spec.analysis)   # spec -> criteria
    state = start(criteria, TrafficForecast(candidate_per_interval, baseline_per_interval,
                                            intervals))                     # first look
    # or, after a restart, from status:
    state = restore(criteria, status.analysis.tuning,
                    {m.name: m.state for m in status.analysis.metrics})

    observations = {m.name: provider.observe(m, window, versions, variables)
                    for m in criteria.metrics}                              # I/O, in providers
    state = update(state, observations)                                     # pure
    verdict = judge(state)                                                  # pure

    status.analysis.tuning = state.tuning.to_status()                       # dict[str, float]
    for m in verdict.metrics:                                               # MetricResult fields
        ... m.name, m.kind, m.verdict, m.effect, m.lower, m.upper, m.log10_e, m.p_value,
            m.baseline_samples, m.candidate_samples, m.reason,
            state=state.metric_state_json(m.name)                           # JSON-compatible
    verdict.verdict   # Verdict: PASS | FAIL | INCONCLUSIVE | NO_DATA | ERROR (values as in status)
    verdict.action    # Action: none | hold | rollback (drift onFail: hold FAILs with action hold)

At each step start, :func:`feasibility` says per metric whether the step can reach the minimum
evidence at the forecast traffic.

Observations (analysis.observations) are validated value objects: RateObservation,
HistogramObservation, ClassObservation, ScalarObservation, or NoData / QueryFailed for an
empty or failed query (verdict NO_DATA / ERROR; a FAIL already found stands). Providers
(analysis.providers: the Protocol, Prometheus, an observations file) produce them.
"""

from analysis.criteria import (
    AnalysisCriteria,
    DriftCriteria,
    ErrorRateCriteria,
    GuardCriteria,
    LatencyCriteria,
    LatencyTolerance,
    MetricCriteria,
    MinEvidence,
    ScoreRange,
    TrafficForecast,
)
from analysis.engine import start, update
from analysis.feasibility import MetricFeasibility, feasibility
from analysis.judge import HarmTest, MetricJudgement, RolloutJudgement, judge
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
from analysis.serial import StateError
from analysis.state import AnalysisState, Tuning, restore
from analysis.verdicts import Action, Verdict

__all__ = [
    "Action",
    "AnalysisCriteria",
    "AnalysisState",
    "ClassObservation",
    "DriftCriteria",
    "ErrorRateCriteria",
    "GuardCriteria",
    "HarmTest",
    "HistogramObservation",
    "IntervalObservations",
    "LatencyCriteria",
    "LatencyTolerance",
    "MetricCriteria",
    "MetricFeasibility",
    "MetricJudgement",
    "MinEvidence",
    "NoData",
    "Observation",
    "ObservationError",
    "QueryFailed",
    "RateCounts",
    "RateObservation",
    "RolloutJudgement",
    "ScalarObservation",
    "ScoreRange",
    "StateError",
    "TrafficForecast",
    "Tuning",
    "Verdict",
    "feasibility",
    "judge",
    "restore",
    "start",
    "update",
]
