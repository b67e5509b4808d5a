"""The evidence fold: recorded analysis + this reconcile's complete windows → new evidence. Pure.

One function, :func:`fold`, turns what the fetch step observed into what the state machine
acts on. The reconciler and ``rollouts analyze`` (:mod:`rollouts.controller.shell.replay`) run the
same pipeline — fetch (:mod:`rollouts.controller.shell.fetch`, the only I/O), :func:`assess` (this
fold), :func:`rollouts.controller.core.decide.decide` — so the two reach the same looks, verdicts,
reasons and outcome on the same data. Nothing here does I/O or reads a clock.

The rules, in the order applied:

1. The engine state is restored from ``status.analysis`` (per-metric sufficient statistics and
   the tuning constants). Evidence that cannot be restored — a status written by an
   incompatible version, edited by hand, or a metric list changed mid-rollout — starts over,
   and :attr:`Evidence.reset` says why (the state machine turns it into an ``Analysis``
   condition and an ``EvidenceReset`` Event, never a silent restart).
2. Tuning is fixed once, at the first window folded: the expected sample size comes from the
   traffic that window shows over the plan's analyze time (:func:`forecast`). Both the
   controller and the offline replay tune from the same first window, so their bounds agree.
3. Each window is folded in order; a window counts as an error when any metric's query failed
   (``consecutiveErrors``, judged against ``errorBudget`` by the state machine).
4. The judgement after the last window gives the verdict, the reasons to roll back (harm after
   Holm, guard breaches, drift sanity failures) and the findings that wait for a person (drift
   beyond ``fail`` with ``onFail: hold``).

Feasibility (:func:`step_feasibility`) is judged on the state *after* this reconcile's windows.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import datetime

from analysis import (
    Action,
    AnalysisState,
    Observation,
    QueryFailed,
    RolloutJudgement,
    StateError,
    TrafficForecast,
    feasibility,
    judge,
    restore,
    start,
    update,
)
from analysis import Verdict as EngineVerdict
from analysis.observations import HistogramObservation, RateObservation
from rollouts.api.spec import ModelRolloutSpec
from rollouts.api.status import AnalysisStatus, MetricResult, ModelRolloutStatus, Verdict
from rollouts.api.timestamps import format_timestamp, parse_timestamp
from rollouts.controller.core.analysis_config import analysis_criteria
from rollouts.controller.core.observed import Evidence, Observed, WindowObservations


def planned_intervals(spec: ModelRolloutSpec) -> int:
    """The intervals the plan gives the analysis to reach a PASS: its analyze steps' total.

    >>> from rollouts.api.spec import ModelRolloutSpec
    >>> spec = ModelRolloutSpec.model_validate({
    ...     "baseline": {"deployment": "a", "version": "v1"},
    ...     "candidate": {"deployment": "b", "version": "v2"},
    ...     "traffic": {"replicas": {}},
    ...     "steps": [{"setWeight": 5}, {"analyze": {"duration": "30m"}}, {"setWeight": 50},
    ...               {"analyze": {"duration": "15m"}}],
    ...     "analysis": {"interval": "1m"},
    ... })
    >>> planned_intervals(spec)
    45
    """
    interval = spec.analysis.interval.seconds
    total = sum(step.analyze.duration.seconds for step in spec.steps if step.analyze is not None)
    return max(1, int(total // interval))


def forecast(spec: ModelRolloutSpec, observations: Mapping[str, Observation]) -> TrafficForecast | None:
    """Rule 2: traffic per interval as one window shows it, over :func:`planned_intervals`.

    The first metric that counts requests (an error rate) or samples (a histogram) speaks for
    the window's traffic; a window without any leaves the engine's default tuning.
    """
    for observation in observations.values():
        if isinstance(observation, RateObservation):
            candidate, baseline = observation.candidate.requests, observation.baseline.requests
        elif isinstance(observation, HistogramObservation):
            candidate, baseline = sum(observation.candidate), sum(observation.baseline)
        else:
            continue
        return TrafficForecast(candidate, baseline, planned_intervals(spec))
    return None


def assess(spec: ModelRolloutSpec, status: ModelRolloutStatus, observed: Observed) -> Observed:
    """``observed`` with the evidence of its windows folded in (none: unchanged).

    The step between fetch and decide, the same in the reconciler and in the offline replay.
    """
    if not observed.windows or status.analysis is None:
        return observed
    return replace(observed, evidence=fold(spec, status.analysis, observed.windows))


def begin(now: datetime) -> AnalysisStatus:
    """The analysis as recorded when it starts: no evidence yet, windows counted from ``now``."""
    return AnalysisStatus(
        started_at=format_timestamp(now),
        last_look_at=format_timestamp(now),
        reason="analysis started; first look after one interval",
    )


def fold(spec: ModelRolloutSpec, analysis: AnalysisStatus, windows: Sequence[WindowObservations]) -> Evidence:
    """Fold ``windows`` (complete, oldest first) into the recorded ``analysis`` (rules 1-4)."""
    criteria = analysis_criteria(spec.analysis)
    state: AnalysisState | None = None
    reset = None
    if analysis.tuning:
        try:
            state = restore(
                criteria, analysis.tuning, {metric.name: metric.state for metric in analysis.metrics}
            )
        except StateError as unreadable:
            reset = f"the recorded evidence could not be restored ({unreadable}); the analysis started over"
    consecutive_errors = analysis.consecutive_errors
    last_look = analysis.last_look_at
    looks = analysis.looks
    for item in windows:
        state = state or start(criteria, forecast(spec, item.observations))
        state = update(state, item.observations)
        errored = any(isinstance(observation, QueryFailed) for observation in item.observations.values())
        consecutive_errors = consecutive_errors + 1 if errored else 0
        last_look = format_timestamp(item.window.end)
        looks += 1
    state = state or start(criteria)
    judgement = judge(state)
    updated = analysis.model_copy(
        update={
            "last_look_at": last_look,
            "looks": looks,
            "consecutive_errors": consecutive_errors,
            "verdict": Verdict(judgement.verdict.value),
            "reason": judgement.reason[:1024],
            "tuning": state.tuning.to_status(),
            "metrics": _metric_results(judgement, state),
        }
    )
    return Evidence(
        analysis=updated,
        judgement=judgement,
        state=state,
        rollback=_reasons(judgement, Action.ROLLBACK),
        hold=_reasons(judgement, Action.HOLD),
        reset=reset,
    )


def _metric_results(judgement: RolloutJudgement, state: AnalysisState) -> tuple[MetricResult, ...]:
    return tuple(
        MetricResult(
            name=metric.name,
            kind=metric.kind,
            verdict=Verdict(metric.verdict.value),
            effect=metric.effect,
            lower=metric.lower,
            upper=metric.upper,
            log10_e=metric.log10_e,
            p_value=metric.p_value,
            baseline_samples=metric.baseline_samples,
            candidate_samples=metric.candidate_samples,
            reason=metric.reason[:1024],
            state=state.metric_state_json(metric.name),
        )
        for metric in judgement.metrics
    )


def _reasons(judgement: RolloutJudgement, action: Action) -> tuple[str, ...]:
    return tuple(
        metric.reason
        for metric in judgement.metrics
        if metric.action is action and metric.verdict is EngineVerdict.FAIL
    )


def step_feasibility(
    spec: ModelRolloutSpec, status: ModelRolloutStatus, now: datetime, state: AnalysisState | None = None
) -> str | None:
    """During an analyze step: why it cannot reach the minimum evidence (None: it can, or unknown).

    Judged on ``status.analysis`` as it stands after this reconcile's windows (``state``: the
    engine state the fold just built, so it is not restored a second time). Traffic per
    interval is estimated from the looks so far (all samples of the metric with the most, over
    the number of looks), split by the current weight and mirror, over the intervals left in the
    step (a header route alone gives no forecast: how many requests carry the header is unknown).
    Example: 12,000 requests over 10 looks is 1,200 per interval; at 5% the candidate gets 60 per
    interval, 300 in a 5-minute step of 1-minute looks — short of 500 requests.
    """
    analysis = status.analysis
    index = status.current_step
    if analysis is None or not analysis.looks or not analysis.tuning or index is None:
        return None
    if index >= len(spec.steps):
        return None
    step = spec.steps[index]
    weight, mirror = status.weight or 0, status.mirror or 0
    if step.analyze is None or not (weight or mirror) or weight >= 100 or status.step_started_at is None:
        return None
    end = parse_timestamp(status.step_started_at) + step.analyze.duration.delta
    intervals = int(max(0.0, (end - now).total_seconds()) // spec.analysis.interval.seconds)
    totals = [(m.baseline_samples or 0) + (m.candidate_samples or 0) for m in analysis.metrics]
    per_interval = max(totals, default=0) / analysis.looks
    if per_interval <= 0:
        return None
    # Requests R split (1 − w) to the baseline and w to the candidate, which also gets the mirrored
    # m of the baseline's: samples per interval are R·(1 + (1 − w)·m), so R is that over 1 + (1 − w)·m.
    live, mirrored = weight / 100, mirror / 100
    requests = per_interval / (1 + (1 - live) * mirrored)
    traffic = TrafficForecast(
        candidate_per_interval=requests * (live + (1 - live) * mirrored),
        baseline_per_interval=requests * (1 - live),
        intervals=intervals,
    )
    if state is None:
        try:
            state = restore(
                analysis_criteria(spec.analysis),
                analysis.tuning,
                {metric.name: metric.state for metric in analysis.metrics},
            )
        except StateError:
            return None
    short = [item for item in feasibility(state, traffic) if not item.feasible]
    if not short:
        return None
    at = f"{weight}%" if not mirror else f"{weight}% with {mirror}% mirrored"
    return f"step {index} may not reach a PASS at {at}: " + "; ".join(item.reason for item in short)
