"""The state machine, transition by transition: decide(spec, status, observed, now) -> Decision.

Each test states a situation (spec + status + what was observed) and the decision expected.
A small simulated world at the bottom runs whole rollouts through repeated decisions, as the
reconciler would, to check sequences: weights never go backwards except on rollback.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Callable
from dataclasses import dataclass, field, fields, replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rollouts.api.spec import ModelRolloutSpec
from rollouts.api.status import AnalysisStatus, ModelRolloutStatus, Phase, Result, Verdict
from rollouts.api.timestamps import format_timestamp
from rollouts.controller.core import decide as decide_module
from rollouts.controller.core.decide import RULES, Facts, decide, derive_phase
from rollouts.controller.core.observed import (
    CandidateHealth,
    Decision,
    DeploymentState,
    Evidence,
    Observed,
    ReadyQueryResult,
)
from rollouts.controller.core.steps import steps_hash
from rollouts.traffic.registry import traffic_model

T0 = datetime(2026, 11, 28, 6, 0, 0, tzinfo=UTC)


def spec_of(**changes: Any) -> ModelRolloutSpec:
    base: dict[str, Any] = {
        "baseline": {"deployment": "model-v1", "version": "v1"},
        "candidate": {"deployment": "model-v2", "version": "v2"},
        "traffic": {
            "gatewayAPI": {
                "httpRoute": "model",
                "baselineBackend": "model-v1",
                "candidateBackend": "model-v2",
            }
        },
        "steps": [
            {"setWeight": 10},
            {"analyze": {"duration": "10m"}},
            {"approve": {}},
            {"setWeight": 50},
            {"analyze": {"duration": "10m"}},
            {"setWeight": 100},
        ],
        "analysis": {
            "prometheus": {"address": "http://prometheus:9090"},
            "interval": "1m",
            "warmup": "2m",
            "metrics": [
                {
                    "name": "errors",
                    "errorRate": {"errors": 'e{v="{{version}}"}', "total": 't{v="{{version}}"}'},
                }
            ],
        },
        "progressDeadline": "10m",
        "maxDuration": "6h",
        "scaleDown": {"delay": "5m", "drain": "10s"},
    }
    merged = copy.deepcopy(base)
    merged.update(changes)
    return ModelRolloutSpec.model_validate(merged)


def observed(
    share: float | None = 0.0,
    ready: bool = True,
    evidence: Evidence | None = None,
    baseline_replicas: int = 4,
    baseline_ready: int | None = None,
    candidate: DeploymentState | None = None,
    **health: Any,
) -> Observed:
    ready_pods = baseline_replicas if baseline_ready is None else baseline_ready
    return Observed(
        generation=1,
        baseline=DeploymentState("model-v1", replicas=baseline_replicas, ready=ready_pods),
        candidate=candidate or DeploymentState("model-v2", replicas=4, ready=4),
        health=CandidateHealth(ready=ready, not_ready_reason="" if ready else "0/1 pods ready", **health),
        effective_share=share,
        evidence=evidence,
    )


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def stamp(minutes: float) -> str:
    return format_timestamp(at(minutes))


def analysis(verdict: Verdict, last_look_min: float, reason: str = "", errors: int = 0) -> AnalysisStatus:
    return AnalysisStatus(
        started_at=stamp(3),
        last_look_at=stamp(last_look_min),
        looks=5,
        consecutive_errors=errors,
        verdict=verdict,
        reason=reason or f"verdict {verdict.value}",
    )


def running(step: int, weight: int, step_started_min: float = 3, **facts: Any) -> ModelRolloutStatus:
    """A status in the middle of the standard rollout (candidate ready at minute 1)."""
    base: dict[str, Any] = {
        "candidate_version": "v2",
        "stable_version": "v1",
        "steps_hash": steps_hash(spec_of().steps),
        "started_at": stamp(0),
        "plan_started_at": stamp(0),
        "baseline_replicas": 4,
        "current_step": step,
        "step_started_at": stamp(step_started_min),
        "weight": weight,
        "candidate_ready_at": stamp(1),
    }
    base.update(facts)
    return ModelRolloutStatus(**base)


def reasons(decision: Decision) -> list[str]:
    return [event.reason for event in decision.events]


# --- starting ---------------------------------------------------------------------------------


def test_new_candidate_starts_a_rollout_at_zero_weight() -> None:
    decision = decide(spec_of(), ModelRolloutStatus(), observed(ready=False), T0)
    status = decision.status
    assert reasons(decision)[0] == "RolloutStarted"
    assert status.candidate_version == "v2"
    assert status.stable_version == "v1"
    assert status.current_step == 0
    assert decision.weight == 0
    assert status.phase is Phase.PENDING
    assert decision.candidate_replicas == 1  # ceil(4 x 10%) pods ready before traffic
    assert decision.requeue_after is not None and decision.requeue_after <= 5


def test_waiting_for_readiness_keeps_zero_weight_until_progress_deadline() -> None:
    start = decide(spec_of(), ModelRolloutStatus(), observed(ready=False), T0).status
    waiting = decide(spec_of(), start, observed(ready=False), at(9))
    assert waiting.weight == 0
    assert waiting.status.outcome is None
    assert "0/1 pods ready" in waiting.status.message
    failed = decide(
        spec_of(),
        waiting.status,
        observed(ready=False, unschedulable="0/2 nodes: 2 Insufficient nvidia.com/gpu"),
        at(10),
    )
    assert failed.status.outcome is not None
    assert failed.status.outcome.result is Result.FAILED
    assert failed.status.outcome.reason == "ProgressDeadlineExceeded"
    assert "Insufficient nvidia.com/gpu" in failed.status.outcome.message
    assert failed.weight == 0
    assert failed.status.phase is Phase.FAILED


def test_preflight_error_blocks_traffic_and_names_the_field() -> None:
    start = decide(spec_of(), ModelRolloutStatus(), observed(ready=False), T0).status
    blocked = decide(
        spec_of(),
        start,
        observed(preflight_errors=("spec.template.spec.containers[0].resources: no nvidia.com/gpu",)),
        at(1),
    )
    assert blocked.weight == 0
    conditions = {c.type: c for c in blocked.status.conditions}
    assert conditions["Preflight"].reason == "PreflightFailed"
    assert "containers[0].resources" in conditions["Preflight"].message
    assert "PreflightFailed" in reasons(blocked)


def test_ready_query_false_blocks_traffic_with_the_value_seen() -> None:
    start = decide(spec_of(), ModelRolloutStatus(), observed(ready=False), T0).status
    seen = replace(
        observed(), ready_query=ReadyQueryResult(ok=False, message='readyQuery min(...) = 0 (device="cpu")')
    )
    blocked = decide(spec_of(), start, seen, at(1))
    assert blocked.weight == 0
    ready = {c.type: c for c in blocked.status.conditions}["Ready"]
    assert ready.reason == "ReadyQueryFalse"
    assert 'device="cpu"' in ready.message


def test_ready_candidate_gets_the_first_weight() -> None:
    start = decide(spec_of(), ModelRolloutStatus(), observed(ready=False), T0).status
    decision = decide(spec_of(), start, observed(), at(1))
    assert decision.status.candidate_ready_at == stamp(1)
    assert decision.weight == 10
    assert "CandidateReady" in reasons(decision)
    assert "WeightSet" in reasons(decision)
    assert decision.status.current_step == 0  # waits for the router to report 10%


def test_set_weight_advances_when_the_router_reports_it() -> None:
    status = running(step=0, weight=10)
    decision = decide(spec_of(), status, observed(share=0.10), at(2))
    assert decision.status.current_step == 1
    assert "StepStarted" in reasons(decision)


# --- analyze steps ----------------------------------------------------------------------------


def test_analyze_waits_during_warmup_and_wakes_when_analysis_can_start() -> None:
    status = running(step=1, weight=10, step_started_min=1.5)
    decision = decide(spec_of(), status, observed(share=0.10), at(2))
    assert decision.status.current_step == 1
    assert decision.requeue_after == pytest.approx(60)  # ready at 1 + warm-up 2m = minute 3


def test_early_pass_advances_an_analyze_step() -> None:
    status = running(step=1, weight=10, step_started_min=3)
    look = Evidence(analysis=analysis(Verdict.PASS, last_look_min=5))
    decision = decide(spec_of(), status, observed(share=0.10, evidence=look), at(5.1))
    assert decision.status.current_step == 2
    assert "AnalysisPassed" in reasons(decision)


def test_pass_judged_before_the_step_began_does_not_count() -> None:
    status = running(step=1, weight=10, step_started_min=4.5)
    look = Evidence(analysis=analysis(Verdict.PASS, last_look_min=5))
    decision = decide(spec_of(), status, observed(share=0.10, evidence=look), at(5.1))
    assert decision.status.current_step == 1


def test_harm_rolls_back_in_one_decision() -> None:
    status = running(step=1, weight=10)
    look = Evidence(
        analysis=analysis(Verdict.FAIL, 6, reason="latency: candidate slower, CLES 0.97"),
        rollback=("latency: candidate slower, CLES 0.97 (bound 0.93)",),
    )
    decision = decide(spec_of(), status, observed(share=0.10, evidence=look), at(6.1))
    assert decision.weight == 0
    assert decision.status.outcome is not None
    assert decision.status.outcome.result is Result.ROLLED_BACK
    assert "CLES 0.97" in decision.status.outcome.message
    assert decision.status.phase is Phase.ROLLED_BACK
    assert decision.candidate_replicas is None  # scaled to 0 only after the delay


@pytest.mark.parametrize(
    ("policy", "result", "step"),
    [("promote", None, 2), ("rollback", Result.ROLLED_BACK, 1), ("hold", None, 1)],
)
def test_inconclusive_at_end_of_analyze_follows_policy(policy: str, result: Result | None, step: int) -> None:
    spec = spec_of(analysis={**spec_of().analysis.to_wire(), "inconclusive": policy})
    status = running(step=1, weight=10, step_started_min=3, analysis=analysis(Verdict.INCONCLUSIVE, 12))
    decision = decide(spec, status, observed(share=0.10), at(13.1))
    assert decision.status.current_step == step
    assert (decision.status.outcome.result if decision.status.outcome else None) is result
    if policy == "hold":
        assert decision.status.hold is not None
        assert decision.status.phase is Phase.PAUSED
        assert {c.type: c for c in decision.status.conditions}["Held"].status == "True"


def test_promote_policy_never_promotes_on_an_outage() -> None:
    spec = spec_of(analysis={**spec_of().analysis.to_wire(), "inconclusive": "promote"})
    status = running(step=1, weight=10, step_started_min=3, analysis=analysis(Verdict.ERROR, 12, errors=2))
    decision = decide(spec, status, observed(share=0.10), at(13.1))
    assert decision.status.current_step == 1
    assert decision.status.hold is not None


def test_held_rollout_releases_on_approval_of_that_step() -> None:
    status = running(step=1, weight=10, hold="step 1 ended without a PASS")
    spec = spec_of(approvals=[{"step": 1, "version": "v2"}])
    decision = decide(spec, status, observed(share=0.10), at(14))
    assert decision.status.hold is None
    assert "HoldReleased" in reasons(decision)


# --- approve ---------------------------------------------------------------------------------


def test_approve_waits_for_an_approval_naming_this_step_only() -> None:
    status = running(step=2, weight=10)
    later_gate = spec_of(approvals=[{"step": 5, "version": "v2"}])
    assert decide(later_gate, status, observed(share=0.10), at(8)).status.current_step == 2
    other_version = spec_of(approvals=[{"step": 2, "version": "v9"}])
    assert decide(other_version, status, observed(share=0.10), at(8)).status.current_step == 2
    stale = spec_of(
        approvals=[{"step": 2, "version": "v2", "requestedAt": format_timestamp(T0 - timedelta(hours=1))}]
    )
    assert decide(stale, status, observed(share=0.10), at(8)).status.current_step == 2
    this_gate = spec_of(approvals=[{"step": 2, "version": "v2", "requestedAt": stamp(7)}])
    decision = decide(this_gate, status, observed(share=0.10), at(8))
    assert decision.status.current_step == 3
    assert decision.weight == 50
    assert "Approved" in reasons(decision)


def test_harm_during_an_approve_wait_rolls_back() -> None:
    status = running(step=2, weight=10)
    look = Evidence(analysis=analysis(Verdict.FAIL, 20), rollback=("errors: ratio 3.1",))
    decision = decide(spec_of(), status, observed(share=0.10, evidence=look), at(20.1))
    assert decision.weight == 0
    assert decision.status.outcome is not None and decision.status.outcome.reason == "AnalysisFailed"


def test_harm_during_a_hold_rolls_back() -> None:
    status = running(step=1, weight=10, hold="drift at fail level")
    look = Evidence(analysis=analysis(Verdict.FAIL, 20), rollback=("errors: ratio 3.1",))
    decision = decide(spec_of(), status, observed(share=0.10, evidence=look), at(20.1))
    assert decision.weight == 0
    assert decision.status.hold is None


def test_drift_hold_stops_progress_until_approved() -> None:
    status = running(step=1, weight=10, step_started_min=3)
    look = Evidence(analysis=analysis(Verdict.PASS, 6), hold=("scores: PSI 0.31 >= fail 0.25",))
    held = decide(spec_of(), status, observed(share=0.10, evidence=look), at(6.1))
    assert held.status.current_step == 1
    assert held.status.hold and "PSI 0.31" in held.status.hold
    assert held.weight == 10  # a hold keeps traffic where it is


# --- promotion and ends ----------------------------------------------------------------------


def test_last_step_promotes_and_scales_baseline_down_after_delay() -> None:
    status = running(step=5, weight=50)
    setting = decide(spec_of(), status, observed(share=0.50), at(30))
    assert setting.weight == 100
    done = decide(spec_of(), setting.status, observed(share=1.0), at(30.1))
    assert done.status.outcome is not None and done.status.outcome.result is Result.SUCCEEDED
    assert done.status.stable_version == "v2"
    assert done.status.phase is Phase.SUCCEEDED
    assert done.baseline_replicas == 4  # kept during scaleDown.delay
    assert done.requeue_after == pytest.approx(300)
    later = decide(spec_of(), done.status, observed(share=1.0), at(35.2))
    assert later.baseline_replicas == 0
    assert later.status.scaled_down_at is not None
    assert "ScaledDown" in reasons(later)


def test_rollback_scales_the_candidate_to_zero_after_the_delay() -> None:
    status = running(step=1, weight=10)
    look = Evidence(analysis=analysis(Verdict.FAIL, 6), rollback=("errors",))
    rolled = decide(spec_of(), status, observed(share=0.10, evidence=look), at(6))
    later = decide(spec_of(), rolled.status, observed(share=0.0), at(11.1))
    assert later.weight == 0
    assert later.candidate_replicas == 0


def test_abort_wins_over_everything() -> None:
    status = running(step=2, weight=10)
    spec = spec_of(
        abort={"reason": "pager: p99 alarm", "requestedBy": "oncall@example.com", "version": "v2"},
        approvals=[{"step": 2, "version": "v2"}],
    )
    look = Evidence(analysis=analysis(Verdict.PASS, 6))
    decision = decide(spec, status, observed(share=0.10, evidence=look), at(7))
    assert decision.weight == 0
    assert decision.status.outcome is not None
    assert decision.status.outcome.result is Result.ABORTED
    assert "oncall@example.com" in decision.status.outcome.message
    assert decision.status.phase is Phase.ABORTED


def test_abort_for_another_version_is_stale() -> None:
    spec = spec_of(abort={"reason": "old", "version": "v1"})
    decision = decide(spec, running(step=0, weight=10), observed(share=0.10), at(2))
    assert decision.status.outcome is None


def test_retry_after_abort_starts_over() -> None:
    aborted = decide(
        spec_of(abort={"reason": "x"}), running(step=2, weight=10), observed(share=0.1), at(7)
    ).status
    retry = spec_of(retry={"requestedAt": stamp(8), "version": "v2"})
    decision = decide(retry, aborted, observed(share=0.0, ready=False), at(8))
    assert decision.status.outcome is None
    assert decision.status.current_step == 0
    assert decision.status.retried_at == stamp(8)
    assert "RolloutRetried" in reasons(decision)


def test_pause_keeps_the_weight_and_resume_continues() -> None:
    status = running(step=3, weight=10)
    paused = decide(spec_of(paused=True), status, observed(share=0.10), at(8))
    assert paused.weight == 10
    assert paused.status.current_step == 3
    assert paused.status.phase is Phase.PAUSED
    resumed = decide(spec_of(), paused.status, observed(share=0.10), at(9))
    assert resumed.weight == 50


def test_error_budget_exhausted_acts_per_policy() -> None:
    status = running(step=1, weight=10)
    look = Evidence(analysis=analysis(Verdict.ERROR, 8, reason="prometheus: connection refused", errors=4))
    held = decide(spec_of(), status, observed(share=0.10, evidence=look), at(8.1))
    assert held.status.outcome is None
    assert held.status.hold is not None and "connection refused" in held.status.hold
    rollback_spec = spec_of(analysis={**spec_of().analysis.to_wire(), "inconclusive": "rollback"})
    rolled = decide(rollback_spec, status, observed(share=0.10, evidence=look), at(8.1))
    assert rolled.status.outcome is not None and rolled.status.outcome.reason == "ErrorBudgetExhausted"
    recovered_look = Evidence(analysis=analysis(Verdict.INCONCLUSIVE, 9))
    recovered = decide(spec_of(), held.status, observed(share=0.10, evidence=recovered_look), at(9.1))
    assert recovered.status.hold is None
    assert "AnalysisRecovered" in reasons(recovered)


def test_error_budget_not_yet_exhausted_just_waits() -> None:
    look = Evidence(analysis=analysis(Verdict.ERROR, 8, errors=3))
    decision = decide(spec_of(), running(step=1, weight=10), observed(share=0.10, evidence=look), at(8.1))
    assert decision.status.outcome is None
    assert decision.status.hold is None


def test_max_duration_rolls_back() -> None:
    status = running(step=2, weight=10)
    decision = decide(spec_of(maxDuration="1h"), status, observed(share=0.10), at(60))
    assert decision.status.outcome is not None
    assert decision.status.outcome.reason == "MaxDurationExceeded"
    assert decision.weight == 0


def test_candidate_failures_roll_back_once_it_had_traffic() -> None:
    failing = observed(share=0.10, failures=("pod model-v2-abc container server: CrashLoopBackOff",))
    decision = decide(spec_of(), running(step=1, weight=10), failing, at(5))
    assert decision.status.outcome is not None
    assert decision.status.outcome.reason == "CandidateFailing"
    assert "model-v2-abc" in decision.status.outcome.message


def test_candidate_changed_mid_rollout_starts_over() -> None:
    spec = spec_of(candidate={"deployment": "model-v2", "version": "v3"})
    decision = decide(spec, running(step=3, weight=50), observed(share=0.5, ready=False), at(20))
    assert decision.status.candidate_version == "v3"
    assert decision.status.current_step == 0
    assert decision.weight == 0
    assert "CandidateChanged" in reasons(decision)


def test_steps_edited_mid_rollout_resume_without_going_backwards() -> None:
    edited = spec_of(
        steps=[
            {"setWeight": 5},
            {"setWeight": 20},
            {"analyze": {"duration": "5m"}},
            {"setWeight": 60},
            {"setWeight": 100},
        ]
    )
    decision = decide(edited, running(step=3, weight=10), observed(share=0.10), at(20))
    assert "StepsChanged" in reasons(decision)
    assert decision.weight == 20  # resumed at the first step at or above 10%


def test_baseline_must_be_the_stable_version() -> None:
    spec = spec_of(baseline={"deployment": "model-v1", "version": "v0"})
    decision = decide(spec, running(step=0, weight=0), observed(share=0.0), at(2))
    assert decision.weight == 0
    assert {c.type: c for c in decision.status.conditions}["Baseline"].reason == "BaselineMismatch"
    assert "BaselineMismatch" in reasons(decision)
    again = decide(spec, decision.status, observed(share=0.0), at(3))
    assert "BaselineMismatch" not in reasons(again)  # an Event per transition, not per reconcile


def test_replicas_router_sizes_by_ratio_and_reports_effective_weight() -> None:
    spec = spec_of(traffic={"replicas": {}})
    decision = decide(spec, running(step=0, weight=10), observed(share=0.2), at(2))
    assert decision.candidate_replicas == 1  # round(4 x 10/90) = 0 → at least 1 → share 1/5
    assert decision.status.effective_weight == pytest.approx(20.0)
    assert decision.status.current_step == 1
    assert traffic_model(spec.traffic).expected_share(spec, 100, 4) == 1.0


def test_phase_is_derived() -> None:
    assert derive_phase(spec_of(), ModelRolloutStatus()) is Phase.PENDING
    assert derive_phase(spec_of(paused=True), running(step=1, weight=10)) is Phase.PAUSED
    assert derive_phase(spec_of(), running(step=1, weight=10)) is Phase.PROGRESSING


def test_decide_is_deterministic_for_the_same_inputs() -> None:
    status = running(step=1, weight=10)
    first = decide(spec_of(), status, observed(share=0.10), at(4))
    second = decide(spec_of(), status, observed(share=0.10), at(4))
    assert first == second


# --- whole rollouts in a simulated world ----------------------------------------------------


@dataclass
class World:
    """Applies decisions like the reconciler would: the router reports what was set."""

    spec: ModelRolloutSpec
    status: ModelRolloutStatus = field(default_factory=ModelRolloutStatus)
    share: float = 0.0
    now: datetime = T0
    weights: list[int] = field(default_factory=list)
    looks: Callable[[World], Evidence | None] = lambda world: None

    def step(self) -> Decision:
        decision = decide(
            self.spec, self.status, replace(observed(share=self.share), evidence=self.looks(self)), self.now
        )
        self.status = decision.status
        self.share = traffic_model(self.spec.traffic).expected_share(self.spec, decision.weight or 0, 4)
        if not self.weights or self.weights[-1] != decision.weight:
            self.weights.append(decision.weight)
        self.now += timedelta(seconds=decision.requeue_after or 30)
        return decision


def passing_looks(world: World) -> Evidence | None:
    if world.status.candidate_ready_at is None or not world.status.weight:
        return None
    return Evidence(analysis=AnalysisStatus(last_look_at=format_timestamp(world.now), verdict=Verdict.PASS))


def test_good_rollout_runs_every_step_in_order() -> None:
    world = World(spec=spec_of(approvals=[{"step": 2, "version": "v2"}]), looks=passing_looks)
    for _ in range(200):
        world.step()
        if world.status.outcome is not None:
            break
    assert world.status.outcome is not None and world.status.outcome.result is Result.SUCCEEDED
    assert world.weights == [10, 50, 100]


@settings(max_examples=60, deadline=None)
@given(
    fail_at=st.integers(min_value=1, max_value=60),
    weights=st.lists(st.integers(min_value=1, max_value=100), min_size=1, max_size=5),
)
def test_weights_never_go_backwards_except_on_rollback(fail_at: int, weights: list[int]) -> None:
    steps: list[dict[str, Any]] = []
    for weight in sorted(weights):
        steps += [{"setWeight": weight}, {"analyze": {"duration": "3m"}}]
    calls = {"n": 0}

    def looks(world: World) -> Evidence | None:
        calls["n"] += 1
        if calls["n"] == fail_at:
            return Evidence(analysis=AnalysisStatus(verdict=Verdict.FAIL), rollback=("harm",))
        return passing_looks(world)

    world = World(spec=spec_of(steps=steps), looks=looks)
    for _ in range(300):
        world.step()
        if world.status.outcome is not None and world.status.scaled_down_at is not None:
            break
    assert world.status.outcome is not None
    sequence = world.weights
    if world.status.outcome.result is Result.ROLLED_BACK:
        sequence = sequence[:-1]
        assert world.weights[-1] == 0
    assert sequence == sorted(sequence)


def test_an_approved_analyze_step_passes_at_once_but_harm_still_rolls_back() -> None:
    spec = spec_of(approvals=[{"step": 1, "version": "v2"}])
    passed = decide(spec, running(step=1, weight=10, step_started_min=3), observed(share=0.10), at(4))
    assert passed.status.current_step == 2
    look = Evidence(analysis=analysis(Verdict.FAIL, 4), rollback=("errors: ratio 4",))
    harmed = decide(spec, running(step=1, weight=10), observed(share=0.10, evidence=look), at(4.1))
    assert harmed.status.outcome is not None and harmed.status.outcome.reason == "AnalysisFailed"


# --- issue 10: never leave the app without serving pods -----------------------------------------

REPLICAS_PLAN = [{"setWeight": 50}, {"setWeight": 100}, {"approve": {}}]


def test_abort_at_100_with_the_replicas_router_brings_the_baseline_back_before_the_candidate_goes() -> None:
    spec = spec_of(
        traffic={"replicas": {}}, steps=REPLICAS_PLAN, abort={"reason": "on-call", "version": "v2"}
    )
    at_gate = running(step=2, weight=100, steps_hash=steps_hash(spec.steps))
    # baseline scaled to 0 at the 100% step; the candidate serves with 4 pods
    gone = observed(share=1.0, baseline_replicas=0, baseline_ready=0)
    aborted = decide(spec, at_gate, gone, at(20))
    assert aborted.status.outcome is not None and aborted.status.outcome.result is Result.ABORTED
    assert aborted.baseline_replicas == 4  # back to its size at the start
    assert aborted.candidate_replicas == 4  # keeps serving: no baseline pod is Ready yet
    assert aborted.weight == 100  # nothing to send traffic back to yet
    assert "traffic stays until the baseline has a Ready pod" in aborted.status.message
    half = decide(spec, aborted.status, observed(share=0.5, baseline_replicas=4, baseline_ready=2), at(20.5))
    assert half.baseline_replicas is None  # already asked for
    assert half.candidate_replicas == 2  # 4 − 2 Ready baseline pods: never fewer than 4 Ready together
    assert half.weight == 0
    done = decide(spec, half.status, observed(share=0.0, baseline_replicas=4, baseline_ready=4), at(21))
    assert done.candidate_replicas == 0


def test_rollback_with_a_route_keeps_the_weight_while_the_baseline_has_no_ready_pod() -> None:
    look = Evidence(analysis=analysis(Verdict.FAIL, 6), rollback=("errors: ratio 4",))
    rolled = decide(
        spec_of(), running(step=1, weight=10), observed(share=0.1, evidence=look, baseline_ready=0), at(6)
    )
    assert rolled.status.outcome is not None and rolled.status.outcome.result is Result.ROLLED_BACK
    assert rolled.weight == 10
    later = decide(spec_of(), rolled.status, observed(share=0.1, baseline_ready=1), at(6.5))
    assert later.weight == 0
    past_delay = decide(spec_of(), later.status, observed(share=0.0, baseline_ready=0), at(12))
    assert past_delay.candidate_replicas is None  # the candidate is not stopped while nothing else serves
    assert past_delay.status.scaled_down_at is None


def test_a_deleted_candidate_rolls_back_and_is_never_promoted_over_the_baseline() -> None:
    missing = DeploymentState("model-v2", exists=False)
    decision = decide(spec_of(), running(step=1, weight=10), observed(share=0.1, candidate=missing), at(4))
    assert decision.status.outcome is not None
    assert decision.status.outcome.reason == "CandidateMissing"
    assert "model-v2" in decision.status.outcome.message
    assert decision.weight == 0
    assert decision.baseline_replicas is None  # the baseline is at its size: nothing to restore


def test_the_baseline_is_scaled_down_only_when_the_candidate_can_take_over() -> None:
    spec = spec_of(traffic={"replicas": {}}, steps=REPLICAS_PLAN)
    status = running(step=1, weight=50, steps_hash=steps_hash(spec.steps))
    unready = DeploymentState("model-v2", replicas=4, ready=1)
    waiting = decide(spec, status, observed(share=0.2, candidate=unready), at(10))
    assert waiting.weight == 100
    assert waiting.candidate_replicas == 4
    assert waiting.baseline_replicas is None  # 1 of 4 candidate pods Ready: the baseline stays
    ready = decide(spec, waiting.status, observed(share=0.5), at(10.5))
    assert ready.baseline_replicas == 0


def test_promotion_with_the_replicas_router_keeps_the_baseline_for_the_scale_down_delay() -> None:
    spec = spec_of(traffic={"replicas": {}}, steps=[{"setWeight": 50}])
    status = running(step=1, weight=50, steps_hash=steps_hash(spec.steps))
    promoted = decide(spec, status, observed(share=0.5), at(10))
    assert promoted.status.outcome is not None and promoted.status.outcome.result is Result.SUCCEEDED
    assert promoted.baseline_replicas is None  # kept for scaleDown.delay
    assert promoted.candidate_replicas == 4
    during = decide(spec, promoted.status, observed(share=0.5), at(14))
    assert during.baseline_replicas is None
    after = decide(spec, during.status, observed(share=0.5), at(15.5))
    assert after.baseline_replicas == 0
    assert "ScaledDown" in reasons(after)


def test_promotion_never_scales_the_baseline_down_under_a_missing_candidate() -> None:
    spec = spec_of(steps=[{"setWeight": 50}])
    status = running(step=1, weight=50, steps_hash=steps_hash(spec.steps))
    promoted = decide(spec, status, observed(share=1.0), at(10)).status
    assert promoted.outcome is not None and promoted.outcome.result is Result.SUCCEEDED
    missing = DeploymentState("model-v2", exists=False)
    later = decide(spec, promoted, observed(share=1.0, candidate=missing), at(20))
    assert later.baseline_replicas is None
    assert later.status.scaled_down_at is None
    assert "scale-down waits: Deployment model-v2 not found" in later.status.message


def test_a_rollout_whose_objects_belong_to_another_touches_nothing() -> None:
    owner = (
        "Deployment model-v1 belongs to ModelRollout first (created earlier); this rollout touches nothing"
    )
    blocked = decide(spec_of(), ModelRolloutStatus(), replace(observed(), conflict=owner), T0)
    assert blocked.weight is None
    assert (blocked.baseline_replicas, blocked.candidate_replicas, blocked.scale_to_zero) == (None, None, ())
    assert blocked.status.candidate_version is None  # not started: no facts recorded
    conflict = {c.type: c for c in blocked.status.conditions}["Conflict"]
    assert (conflict.status, conflict.reason) == ("True", "ObjectsClaimed")
    assert "ModelRollout first" in conflict.message
    assert "Conflict" in reasons(blocked)
    freed = decide(spec_of(), blocked.status, observed(ready=False), at(1))
    assert freed.status.candidate_version == "v2"
    assert {c.type: c for c in freed.status.conditions}["Conflict"].status == "False"


def test_a_replaced_candidate_is_scaled_to_zero_and_forgotten_once_stopped() -> None:
    v3 = spec_of(candidate={"deployment": "model-v3", "version": "v3"})
    mid_v2 = running(step=1, weight=10, candidate_deployment="model-v2")
    started = decide(v3, mid_v2, observed(ready=False), at(5))
    assert started.status.replaced_candidates == ("model-v2",)
    assert started.scale_to_zero == ("model-v2",)
    stopped = replace(observed(ready=False), replaced=(DeploymentState("model-v2", replicas=0, ready=0),))
    later = decide(v3, started.status, stopped, at(6))
    assert later.status.replaced_candidates == ()
    assert later.scale_to_zero == ()


def test_with_the_replicas_router_a_step_waits_for_replaced_candidates_to_stop_serving() -> None:
    spec = spec_of(traffic={"replicas": {}})
    status = running(step=0, weight=10, replaced_candidates=("model-v0",))
    serving = replace(observed(share=0.2), replaced=(DeploymentState("model-v0", replicas=0, ready=2),))
    decision = decide(spec, status, serving, at(2))
    assert decision.status.current_step == 0
    assert "model-v0 (2 Ready)" in decision.status.message


def test_an_already_ready_candidate_waits_for_the_ready_query() -> None:
    spec = spec_of(
        analysis={**spec_of().analysis.to_wire(), "readyQuery": 'vector(0) * count(up{v="{{version}}"})'}
    )
    not_asked = decide(spec, ModelRolloutStatus(), observed(), T0)
    assert not_asked.status.candidate_ready_at is None
    assert not_asked.weight == 0
    assert "readyQuery not evaluated yet" in not_asked.status.message
    false = replace(observed(), ready_query=ReadyQueryResult(ok=False, message="readyQuery 'vector(0)' = 0"))
    assert decide(spec, ModelRolloutStatus(), false, T0).weight == 0
    true = replace(observed(), ready_query=ReadyQueryResult(ok=True, message="readyQuery = 1"))
    assert decide(spec, ModelRolloutStatus(), true, T0).weight == 10


def test_an_approval_for_another_candidate_passes_no_gate() -> None:
    spec = spec_of(approvals=[{"step": 2, "version": "v1"}])
    decision = decide(spec, running(step=2, weight=10), observed(share=0.1), at(15))
    assert decision.status.current_step == 2


def test_a_metrics_source_error_is_said_in_the_message() -> None:
    unusable = replace(
        observed(share=0.1), source_error="spec.analysis.prometheus.bearerTokenSecret: not found"
    )
    decision = decide(spec_of(), running(step=0, weight=10), unusable, at(2))
    assert decision.status.message.endswith(
        "(metrics: spec.analysis.prometheus.bearerTokenSecret: not found)"
    )


def test_the_rules_run_in_the_order_the_docstring_numbers_them() -> None:
    numbered = re.findall(r"^(\d+)\. ", decide_module.__doc__ or "", flags=re.MULTILINE)
    assert [int(n) for n in numbered] == list(range(len(RULES)))
    for number, rule in enumerate(RULES):
        assert (rule.__doc__ or "").startswith(f"Rule {number}:"), rule.__name__


def test_every_fact_a_decision_records_is_a_status_field() -> None:
    assert {item.name for item in fields(Facts)} <= set(ModelRolloutStatus.model_fields)


def test_a_hold_keeps_looking_so_harm_during_it_still_rolls_back() -> None:
    status = running(step=1, weight=10, hold="drift at fail level", analysis=analysis(Verdict.PASS, 6))
    held = decide(spec_of(), status, observed(share=0.1), at(6.5))
    assert held.status.hold == "drift at fail level"
    assert held.requeue_after == pytest.approx(35)  # the next window, due at 7m05s


def test_evidence_that_started_over_is_said_in_a_condition_and_an_event() -> None:
    reset = "the recorded evidence could not be restored (bad state); the analysis started over"
    fresh = Evidence(analysis=analysis(Verdict.INCONCLUSIVE, 6), reset=reset)
    decision = decide(spec_of(), running(step=1, weight=10), observed(share=0.1, evidence=fresh), at(6.1))
    condition = {c.type: c for c in decision.status.conditions}["Analysis"]
    assert (condition.status, condition.reason, condition.message) == ("Unknown", "EvidenceReset", reset)
    assert "EvidenceReset" in reasons(decision)


def test_a_gate_without_metrics_does_not_wake_again_and_again() -> None:
    """Issue 14: with no metrics, the analysis start (ready + warm-up) lay in the past and was
    asked for as a wake-up at every reconcile: every 0.5 s, forever, at an approve gate."""
    spec = spec_of(
        traffic={"replicas": {}},
        steps=[{"setWeight": 25}, {"approve": {}}],
        analysis={"interval": "1m", "warmup": "2m"},
    )
    status = running(step=1, weight=25, steps_hash=steps_hash(spec.steps))
    waiting = decide(spec, status, observed(share=0.2), at(60))
    assert waiting.status.current_step == 1
    assert waiting.requeue_after is not None and waiting.requeue_after > 60
