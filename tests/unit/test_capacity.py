"""The GPU budget (spec.capacity.maxSurge): the pure split, and decide() under it.

The property tests hold the promise of rollouts.controller.core.capacity: baseline + candidate
never exceed b + s, in the sizes asked for and between the two writes (shrink first), and the
baseline keeps what its traffic share needs, so the app always has serving pods.
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from rich.console import Console

from rollouts.api.spec import MaxSurge
from rollouts.api.status import Outcome, Result
from rollouts.cli.views import rollout_view
from rollouts.controller.core.capacity import Budget, restored, share_needs, split, surge_pods
from rollouts.controller.core.decide import decide
from rollouts.controller.core.observed import CandidateHealth, Decision, DeploymentState, Observed
from rollouts.controller.shell.trim import trim_node, trim_pod
from rollouts.guardrails.accelerators import AcceleratorResources
from rollouts.guardrails.headroom import budget_problem
from rollouts.local.manifests import model_deployment
from tests.unit.test_decide import at, observed, running, spec_of, stamp
from tests.unit.test_trim import api_deployment, api_node, api_pod


def budgeted(surge: int = 1, **changes: Any) -> Any:
    return spec_of(capacity={"maxSurge": {"pods": surge}}, **changes)


def sizes(decision: Decision, seen: Observed) -> tuple[int, int]:
    """The sizes after the decision is applied (None: the Deployment's own)."""
    baseline = seen.baseline.replicas if decision.baseline_replicas is None else decision.baseline_replicas
    candidate = (
        seen.candidate.replicas if decision.candidate_replicas is None else decision.candidate_replicas
    )
    return baseline, candidate


@pytest.mark.parametrize(
    ("baseline", "weight", "needs"),
    [(4, 0, 4), (4, 10, 4), (4, 50, 2), (4, 75, 1), (4, 99, 1), (4, 100, 0), (8, 25, 6), (0, 50, 0)],
)
def test_the_baselines_share_needs_ceil_b_times_its_share(baseline: int, weight: int, needs: int) -> None:
    assert share_needs(baseline, weight) == needs


@pytest.mark.parametrize(
    ("target", "candidate", "ready", "plan"),
    [
        (4, 1, 0, (4, 1)),  # before the candidate is Ready: the surge only
        (3, 2, 0, (4, 1)),  # no Ready candidate pod: the baseline gives nothing up
        (3, 2, 1, (3, 2)),  # one Ready candidate pod replaces one baseline pod
        (3, 2, 2, (3, 2)),  # the candidate at its size: the baseline at its target
        (1, 4, 2, (2, 3)),  # at 100%: pod by pod
        (1, 4, 4, (1, 4)),  # the baseline keeps s pods for a rollback
        (0, 4, 4, (0, 4)),  # the promotion's scale-down
        (0, 9, 0, (4, 1)),  # a pinned candidate larger than the budget is held to it
    ],
)
def test_the_split_gives_the_baseline_its_share_and_the_candidate_the_rest(
    target: int, candidate: int, ready: int, plan: tuple[int, int]
) -> None:
    found = split(Budget(baseline=4, surge=1), target, candidate, ready)
    assert (found.baseline, found.candidate) == plan


@pytest.mark.parametrize(
    ("surge", "baseline_gpus", "candidate_gpus", "pods"),
    [
        ({"pods": 2}, 8, 8, 2),
        ({"accelerators": 4}, 2, 1, 2),  # the larger per-pod request counts
        ({"accelerators": 4}, 0, 0, 4),  # a pod with no accelerator counts as one
        ({"accelerators": 1}, 2, 2, 0),  # less than one pod: nothing can surge (preflight says so)
    ],
)
def test_a_surge_in_accelerators_is_turned_into_pods(
    surge: dict[str, int], baseline_gpus: int, candidate_gpus: int, pods: int
) -> None:
    found = surge_pods(
        MaxSurge.model_validate(surge),
        DeploymentState("model-v1", accelerators=baseline_gpus),
        DeploymentState("model-v2", accelerators=candidate_gpus),
    )
    assert found == pods


def test_a_rollback_restores_the_baseline_as_far_as_the_candidate_leaves_room() -> None:
    assert restored(Budget(4, 1), 1) == 4
    assert restored(Budget(4, 1), 3) == 2
    assert restored(Budget(4, 1), 9) == 0


def test_the_budget_refuses_an_autoscaler_and_the_replicas_router() -> None:
    with pytest.raises(ValueError, match=r"spec\.capacity and spec\.autoscaler"):
        budgeted(autoscaler={"name": "model"})
    with pytest.raises(ValueError, match="needs a weight router"):
        budgeted(traffic={"replicas": {}})


# --- decide() under a budget of b = 4, s = 1 ------------------------------------------------------


def test_before_the_candidate_is_ready_it_gets_the_surge_only() -> None:
    status = running(step=0, weight=0, candidate_ready_at=None)
    seen = observed(ready=False, candidate=DeploymentState("model-v2", replicas=0, ready=0))
    decision = decide(budgeted(steps=[{"setWeight": 50}]), status, seen, at(0.5))
    assert sizes(decision, seen) == (4, 1)
    assert decision.status.replica_plan is not None
    assert decision.status.replica_plan.budget == 5


def test_the_baseline_shrinks_only_as_candidate_pods_turn_ready() -> None:
    status = running(step=3, weight=50)
    waiting = observed(share=0.5, candidate=DeploymentState("model-v2", replicas=1, ready=1))
    first = decide(budgeted(), status, waiting, at(20))
    assert sizes(first, waiting) == (3, 2)  # one Ready candidate pod replaced one baseline pod
    assert first.requeue_after is not None
    ready = observed(
        share=0.5, baseline_replicas=3, candidate=DeploymentState("model-v2", replicas=2, ready=2)
    )
    assert sizes(decide(budgeted(), status, ready, at(20.1)), ready) == (3, 2)  # 2 would do; 3 fits


def test_at_full_weight_the_baseline_keeps_the_surge_until_the_scale_down() -> None:
    status = running(step=5, weight=100)
    seen = observed(
        share=1.0, baseline_replicas=1, candidate=DeploymentState("model-v2", replicas=4, ready=4)
    )
    decision = decide(budgeted(), status, seen, at(30))
    assert decision.status.outcome is not None and decision.status.outcome.result is Result.SUCCEEDED
    assert sizes(decision, seen) == (1, 4)
    later = decide(budgeted(), decision.status, seen, at(35.2))
    assert sizes(later, seen) == (0, 4)


def test_a_rollback_sends_traffic_back_at_once_and_trades_candidate_pods_for_baseline_pods() -> None:
    status = running(step=4, weight=50)
    seen = observed(
        share=0.5,
        baseline_replicas=3,
        baseline_ready=3,
        candidate=DeploymentState("model-v2", replicas=2, ready=2),
    )
    aborted = decide(budgeted(abort={"reason": "bad", "version": "v2"}), status, seen, at(20))
    assert aborted.weight == 0
    assert sizes(aborted, seen) == (4, 1)


def test_a_rollback_keeps_the_candidate_while_the_baseline_has_no_ready_pod() -> None:
    status = running(step=4, weight=50)
    seen = observed(
        share=0.5,
        baseline_replicas=2,
        baseline_ready=0,
        candidate=DeploymentState("model-v2", replicas=3, ready=3),
    )
    aborted = decide(budgeted(abort={"reason": "bad", "version": "v2"}), status, seen, at(20))
    assert aborted.weight == 50
    assert aborted.candidate_replicas == 3
    assert sizes(aborted, seen) == (2, 3)


# --- properties ----------------------------------------------------------------------------------


@st.composite
def situations(draw: st.DrawFn) -> tuple[Any, Any, Observed, int]:
    """A rollout under a budget at any weight, phase and observed sizes and pods within the budget."""
    b = draw(st.integers(1, 12))
    s = draw(st.integers(1, 4))
    weight = draw(st.sampled_from([0, 1, 10, 25, 50, 75, 99, 100]))
    phase = draw(st.sampled_from(["waiting", "running", "promoted", "rolled back"]))
    baseline = draw(st.integers(0, b))
    terminating = draw(st.integers(0, b + s - baseline))  # baseline pods still holding accelerators
    candidate = draw(st.integers(0, b + s - baseline - terminating))
    facts: dict[str, Any] = {"baseline_replicas": b, "steps_hash": None}
    if phase == "waiting":
        weight = 0
        facts["candidate_ready_at"] = None
    if phase in ("promoted", "rolled back"):
        result = Result.SUCCEEDED if phase == "promoted" else Result.ROLLED_BACK
        weight = 100 if phase == "promoted" else weight
        facts["outcome"] = Outcome(result=result, reason="Promoted", message="", at=stamp(20))
    status = running(step=0, weight=weight, **facts)
    seen = Observed(
        generation=1,
        baseline=DeploymentState(
            "model-v1", replicas=baseline, ready=draw(st.integers(0, baseline)), pods=baseline + terminating
        ),
        candidate=DeploymentState(
            "model-v2", replicas=candidate, ready=draw(st.integers(0, candidate)), pods=candidate
        ),
        health=CandidateHealth(ready=True),
        effective_share=weight / 100,
    )
    steps = [{"setWeight": max(weight, 1)}]
    return budgeted(s, steps=steps), status, seen, b + s


@settings(max_examples=400, deadline=None)
@given(situation=situations(), minutes=st.sampled_from([20.5, 30.0]))
def test_baseline_and_candidate_never_exceed_the_budget(situation: Any, minutes: float) -> None:
    spec, status, seen, limit = situation
    decision = decide(spec, status, seen, at(minutes))
    baseline, candidate = sizes(decision, seen)
    assert baseline + candidate <= limit
    # The reconciler writes the shrink first: between the two writes the sum is within too.
    if baseline <= seen.baseline.replicas:
        assert baseline + seen.candidate.replicas <= limit
    else:
        assert seen.baseline.replicas + candidate <= limit
    if candidate > seen.candidate.replicas:  # grows only beside the pods that exist, Terminating too
        assert seen.baseline.pods + candidate <= limit
    if baseline > seen.baseline.replicas:
        assert baseline + seen.candidate.pods <= limit
    plan = decision.status.replica_plan
    assert plan is not None and (plan.baseline, plan.candidate, plan.budget) == (baseline, candidate, limit)


@settings(max_examples=400, deadline=None)
@given(situation=situations(), minutes=st.sampled_from([20.5, 30.0]))
def test_the_app_keeps_serving_pods_under_the_budget(situation: Any, minutes: float) -> None:
    spec, status, seen, _ = situation
    decision = decide(spec, status, seen, at(minutes))
    baseline, _ = sizes(decision, seen)
    b = status.baseline_replicas
    weight = decision.weight or 0
    if baseline < seen.baseline.replicas:  # a shrink: replaced by Ready candidate pods, share kept
        assert baseline >= share_needs(b, weight)
        assert baseline + seen.candidate.ready >= min(b, seen.baseline.replicas) or (
            decision.status.outcome is not None and decision.status.outcome.result is Result.SUCCEEDED
        )
    if weight < 100:  # the baseline carries a share: it keeps pods for it
        assert seen.baseline.replicas == 0 or (
            baseline >= min(share_needs(b, weight), seen.baseline.replicas) and baseline >= 1
        )


def test_rollouts_get_shows_the_replica_plan_under_the_budget() -> None:
    status = running(step=3, weight=50)
    seen = observed(share=0.5, candidate=DeploymentState("model-v2", replicas=1, ready=1))
    decision = decide(budgeted(), status, seen, at(20))
    console = Console(width=200, record=True)
    console.print(
        rollout_view({"spec": budgeted().model_dump(by_alias=True), "status": decision.status.to_wire()})
    )
    assert "replicas: baseline 3 + candidate 2 of a budget of 5 pods" in console.export_text()


# --- preflight: room on the nodes ---------------------------------------------------------------


def _node(name: str, gpus: int, pool: str = "a100") -> dict[str, Any]:
    return {
        "metadata": {"name": name, "labels": {"pool": pool}},
        "status": {"allocatable": {"nvidia.com/gpu": str(gpus)}},
    }


def _pod_on(node: str, gpus: int) -> dict[str, Any]:
    return {
        "spec": {"nodeName": node, "containers": [{"resources": {"requests": {"nvidia.com/gpu": str(gpus)}}}]}
    }


def _headroom(surge: dict[str, int], nodes: list[dict[str, Any]], others: list[dict[str, Any]]) -> str | None:
    return budget_problem(
        MaxSurge.model_validate(surge),
        baseline_replicas=2,
        baseline=model_deployment("model-v1", "v1", 2, gpus=1, node_selector={"pool": "a100"}),
        candidate=model_deployment("model-v2", "v2", 0, gpus=1, node_selector={"pool": "a100"}),
        nodes=nodes,
        others=others,
        accelerators=AcceleratorResources(),
    )


def test_preflight_passes_a_budget_the_matching_nodes_can_hold() -> None:
    nodes = [_node("gpu-0", 2), _node("gpu-1", 1)]
    assert _headroom({"pods": 1}, nodes, [_pod_on("gpu-0", 1), _pod_on("gpu-1", 1)]) is None


def test_preflight_says_with_numbers_when_the_matching_nodes_cannot_hold_the_surge() -> None:
    nodes = [_node("gpu-0", 2), _node("gpu-1", 1), _node("h100-0", 8, pool="h100")]  # h100: not selected
    problem = _headroom({"pods": 2}, nodes, [_pod_on("gpu-0", 1), _pod_on("gpu-1", 1)])
    assert problem == (
        "the GPU budget needs room for 2 candidate pod(s) of 1 nvidia.com/gpu on nodes matching "
        "nodeSelector {'pool': 'a100'}, and 1 fit (free: gpu-0 1 nvidia.com/gpu; gpu-1 0 nvidia.com/gpu): "
        "free accelerators there, or lower spec.capacity.maxSurge"
    )


def test_preflight_refuses_an_accelerator_surge_below_one_pods_request() -> None:
    problem = budget_problem(
        MaxSurge(accelerators=1),
        baseline_replicas=2,
        baseline=model_deployment("model-v1", "v1", 2, gpus=2),
        candidate=model_deployment("model-v2", "v2", 0, gpus=2),
        nodes=[_node("gpu-0", 8)],
        others=[],
        accelerators=AcceleratorResources(),
    )
    assert problem is not None and "maxSurge.accelerators 1 is less than one pod's request (2)" in problem


def test_the_budget_preflight_reads_the_same_on_the_controllers_trimmed_nodes_and_pods() -> None:
    candidate = api_deployment("fraud-v2", "v2")
    candidate["spec"]["template"]["spec"]["nodeSelector"] = {"gpu": "yes"}
    cordoned = {**api_node("gpu-2", 4), "spec": {"unschedulable": True}}
    nodes = [api_node("gpu-0", 1), api_node("gpu-1", 2), cordoned]
    others = [api_pod("fraud-v1-5d9f-a", "v1", "gpu-0"), api_pod("fraud-v1-5d9f-b", "v1", "gpu-1")]

    def problem(surge: int, *, trimmed: bool) -> str | None:
        return budget_problem(
            MaxSurge(pods=surge),
            baseline_replicas=2,
            baseline=api_deployment("fraud-v1", "v1"),
            candidate=candidate,
            nodes=[trim_node(node) for node in nodes] if trimmed else nodes,
            others=[trim_pod(pod) or {} for pod in others] if trimmed else others,
            accelerators=AcceleratorResources(),
        )

    assert problem(1, trimmed=True) is None and problem(1, trimmed=False) is None
    assert problem(2, trimmed=True) == problem(2, trimmed=False)
    assert "and 1 fit" in (problem(2, trimmed=True) or "")  # gpu-2 is cordoned, gpu-0 is full
