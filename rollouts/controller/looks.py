"""The bridge from status to the analysis engine and back: one reconcile's looks.

The engine (``analysis``) is pure and knows nothing of rollouts; this module does the one
impure thing around it — asking a metrics provider for each due window — and converts between
``status.analysis`` and the engine's state. The accumulated evidence lives in status only
(per-metric sufficient statistics plus the tuning constants fixed at the start), so a
restarted controller restores it and continues with the next window, never re-querying history.

Before every query, ``abort_requested`` is asked: a slow Prometheus can delay an abort by at most
one query's timeout, never by a whole look or catch-up.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

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
from analysis.providers.base import MetricsProvider, Versions, Window
from rollouts.analysis_config import analysis_criteria
from rollouts.api.durations import seconds
from rollouts.api.spec import ModelRolloutSpec
from rollouts.api.status import AnalysisStatus, MetricResult, ModelRolloutStatus, Verdict
from rollouts.api.timestamps import format_timestamp, parse_timestamp
from rollouts.controller.observed import LookResult
from rollouts.controller.schedule import analysis_start_time, due_windows


@dataclass(frozen=True)
class LookContext:
    """What the looks need besides spec and status."""

    provider: MetricsProvider
    variables: Mapping[str, str]
    abort_requested: Callable[[], bool]


def run_looks(
    spec: ModelRolloutSpec, status: ModelRolloutStatus, context: LookContext, now: datetime
) -> LookResult | None:
    """Start the analysis, or judge the windows that are due; None when there is nothing to do."""
    if not spec.analysis.metrics:
        return None
    criteria = analysis_criteria(spec.analysis)
    if status.analysis is None:
        start_at = analysis_start_time(spec, status)
        if start_at is None or now < start_at:
            return None
        fresh = start(criteria)
        begun = AnalysisStatus(
            started_at=format_timestamp(now),
            last_look_at=format_timestamp(now),
            tuning=fresh.tuning.to_status(),
            reason="analysis started; first look after one interval",
        )
        return LookResult(analysis=begun)
    windows = due_windows(spec, status, now)
    if not windows:
        return None
    state = _restore(spec, status)
    versions = Versions(baseline=spec.baseline.version, candidate=spec.candidate.version)
    analysis = status.analysis
    consecutive_errors = analysis.consecutive_errors
    last_look = analysis.last_look_at
    looks = analysis.looks
    for start_time, end_time in windows:
        window = Window(start_time, end_time)
        observations: dict[str, Observation] = {}
        for metric in criteria.metrics:
            if context.abort_requested():
                break
            observations[metric.name] = context.provider.observe(metric, window, versions, context.variables)
        if len(observations) < len(criteria.metrics):
            break  # an abort arrived: judge what was complete, let decide() act on the abort
        state = update(state, observations)
        errored = any(isinstance(observation, QueryFailed) for observation in observations.values())
        consecutive_errors = consecutive_errors + 1 if errored else 0
        last_look = format_timestamp(end_time)
        looks += 1
    judgement = judge(state)
    updated = analysis.model_copy(
        update={
            "last_look_at": last_look,
            "looks": looks,
            "consecutive_errors": consecutive_errors,
            "verdict": Verdict(judgement.verdict.value),
            "reason": judgement.reason[:1024],
            "metrics": _metric_results(judgement, state),
        }
    )
    return LookResult(
        analysis=updated,
        rollback=_reasons(judgement, Action.ROLLBACK),
        hold=_reasons(judgement, Action.HOLD),
    )


def _restore(spec: ModelRolloutSpec, status: ModelRolloutStatus) -> AnalysisState:
    """The engine state from status; an unreadable state starts over (and says so in reason)."""
    criteria = analysis_criteria(spec.analysis)
    analysis = status.analysis
    assert analysis is not None
    try:
        return restore(criteria, analysis.tuning, {metric.name: metric.state for metric in analysis.metrics})
    except StateError:
        return start(criteria)


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


def step_feasibility(spec: ModelRolloutSpec, status: ModelRolloutStatus, now: datetime) -> str | None:
    """During an analyze step: why it cannot reach the minimum evidence (None: it can, or unknown).

    Traffic per interval is estimated from the looks so far (all samples of the metric with the
    most, over the number of looks), split by the current weight, over the intervals left in
    the step. Example: 12,000 requests over 10 looks is 1,200 per interval; at 5% the candidate
    gets 60 per interval, 300 in a 5-minute step of 1-minute looks — short of 500 requests.
    """
    analysis = status.analysis
    index = status.current_step
    if analysis is None or not analysis.looks or index is None or index >= len(spec.steps):
        return None
    step = spec.steps[index]
    weight = status.weight or 0
    if step.analyze is None or not 0 < weight < 100 or status.step_started_at is None:
        return None
    end = parse_timestamp(status.step_started_at) + timedelta(seconds=seconds(step.analyze.duration))
    intervals = int(max(0.0, (end - now).total_seconds()) // seconds(spec.analysis.interval))
    totals = [(m.baseline_samples or 0) + (m.candidate_samples or 0) for m in analysis.metrics]
    per_interval = max(totals, default=0) / analysis.looks
    if per_interval <= 0:
        return None
    forecast = TrafficForecast(
        candidate_per_interval=per_interval * weight / 100,
        baseline_per_interval=per_interval * (100 - weight) / 100,
        intervals=intervals,
    )
    short = [item for item in feasibility(_restore(spec, status), forecast) if not item.feasible]
    if not short:
        return None
    return f"step {index} may not reach a PASS at {weight}%: " + "; ".join(item.reason for item in short)
