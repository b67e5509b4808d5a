"""The rollout's cost (rollouts.controller.core.cost): extra pod- and GPU-seconds on a manual clock.

Each test drives :func:`decide` as the reconciler would, with the Deployment sizes it would
observe, and checks ``status.cost``: what counts as beyond the baseline, the rate recorded at
``accountedAt``, a restart's long gap, a clock that went backwards, and the end at the
scale-down.
"""

from __future__ import annotations

from dataclasses import replace

import pytest
from rich.console import Console

from rollouts.api.status import CostStatus, ModelRolloutStatus, Result
from rollouts.cli.views import cost_line, rollout_view
from rollouts.controller.core.cost import ACCOUNT_EVERY, MAX_GAP, account, extra
from rollouts.controller.core.decide import decide
from rollouts.controller.core.observed import DeploymentState, Observed
from tests.unit.test_decide import at, observed, running, spec_of, stamp

GPUS_PER_POD = 2


def sized(
    baseline: int, candidate: int, *, candidate_gpus: int = GPUS_PER_POD, share: float = 0.0
) -> Observed:
    """Both Deployments at these sizes, all pods Ready, each baseline pod asking for 2 GPUs."""
    seen = observed(
        share=share,
        candidate=DeploymentState(
            "model-v2", replicas=candidate, ready=candidate, accelerators=candidate_gpus
        ),
    )
    return replace(
        seen, baseline=DeploymentState("model-v1", replicas=baseline, ready=baseline, accelerators=2)
    )


def cost_of(status: ModelRolloutStatus) -> CostStatus:
    assert status.cost is not None
    return status.cost


def test_extra_is_what_both_deployments_hold_beyond_the_baseline_at_the_start() -> None:
    assert extra(sized(4, 1), 4).pods == 1
    assert extra(sized(4, 1), 4).accelerators == 2
    assert extra(sized(0, 4), 4).pods == 0  # the baseline handed its pods over: nothing extra
    assert extra(sized(4, 4, candidate_gpus=0), 4).accelerators == 0  # a CPU candidate holds no GPU
    assert extra(sized(4, 4, candidate_gpus=0), 4).pods == 4


def test_a_rollout_starts_accounting_and_counts_the_rate_seen_at_the_last_reconcile() -> None:
    start = decide(spec_of(), ModelRolloutStatus(), sized(4, 0), at(0)).status
    assert cost_of(start) == CostStatus(accounted_at=stamp(0))
    one_pod = decide(spec_of(), start, sized(4, 1), at(1)).status  # scaled up: 0 extra until now
    assert cost_of(one_pod).extra_pod_seconds == 0
    assert (cost_of(one_pod).extra_pods, cost_of(one_pod).extra_accelerators) == (1, 2)
    two_pods = decide(spec_of(), one_pod, sized(4, 2), at(3)).status  # 1 pod, 2 GPUs for 2 minutes
    assert cost_of(two_pods).extra_pod_seconds == 120
    assert cost_of(two_pods).extra_accelerator_seconds == 240
    assert cost_of(two_pods).accounted_at == stamp(3)


def test_a_steady_extra_is_accounted_every_few_minutes_not_at_every_reconcile() -> None:
    status = running(
        step=1, weight=10, cost=CostStatus(extra_pods=1, extra_accelerators=2, accounted_at=stamp(6))
    )
    soon = decide(spec_of(), status, sized(4, 1, share=0.1), at(7))
    assert soon.status.cost == status.cost  # unchanged: no status write for it
    due = at(6) + ACCOUNT_EVERY
    later = decide(spec_of(), status, sized(4, 1, share=0.1), due)
    assert cost_of(later.status).extra_accelerator_seconds == 2 * ACCOUNT_EVERY.total_seconds()
    assert cost_of(later.status).accounted_at == stamp(11)


def test_a_long_gap_with_a_change_counts_the_lower_rate_and_nothing_twice() -> None:
    before = CostStatus(extra_pod_seconds=60, extra_pods=4, extra_accelerators=8, accounted_at=stamp(10))
    status = running(step=4, weight=50, cost=before)
    gap = MAX_GAP.total_seconds() / 60 + 5
    after = account(status, sized(4, 1), at(10 + gap))  # controller down; the candidate shrank meanwhile
    assert after is not None
    assert after.extra_pod_seconds == 60 + 1 * gap * 60  # a lower bound: the change was not seen
    assert after.extra_accelerator_seconds == 2 * gap * 60
    assert account(status.model_copy(update={"cost": after}), sized(4, 1), at(10 + gap)) == after
    steady = account(status, sized(4, 4), at(10 + gap))  # the same at both ends: counted in full
    assert steady is not None and steady.extra_accelerator_seconds == 8 * gap * 60


def test_a_clock_that_went_backwards_adds_nothing() -> None:
    before = CostStatus(extra_pods=4, extra_accelerators=8, accounted_at=stamp(10))
    assert account(running(step=4, weight=50, cost=before), sized(4, 2), at(9)) == before


def test_accounting_ends_at_the_losers_scale_down() -> None:
    spec = spec_of()
    status = running(
        step=5, weight=50, cost=CostStatus(extra_pods=4, extra_accelerators=8, accounted_at=stamp(30))
    )
    promoted = decide(spec, status, sized(4, 4, share=0.5), at(30))
    promoted = decide(spec, promoted.status, sized(4, 4, share=1.0), at(30.5))
    assert promoted.status.outcome is not None and promoted.status.outcome.result is Result.SUCCEEDED
    down = decide(spec, promoted.status, sized(4, 4, share=1.0), at(36)).status
    assert down.scaled_down_at == stamp(36)
    assert cost_of(down).extra_accelerator_seconds == pytest.approx(8 * 6 * 60)
    assert cost_of(down).accounted_at == stamp(36)
    assert "the rollout used 0.80 accelerator-hours and 0.40 pod-hours beyond the baseline" in (
        down.history[-1].message
    )
    final = decide(spec, down, sized(0, 4, share=1.0), at(90)).status
    assert final.cost == down.cost
    shown = cost_line(final.to_wire())
    assert shown == "cost: 0.80 accelerator-hours and 0.40 pod-hours beyond the baseline (final)"


def test_rollouts_get_shows_the_cost_so_far_and_reads_a_malformed_one_as_none() -> None:
    status = running(
        step=4, weight=50, cost=CostStatus(extra_accelerator_seconds=5400, accounted_at=stamp(10))
    )
    console = Console(width=200, record=True)
    console.print(rollout_view({"spec": spec_of().model_dump(by_alias=True), "status": status.to_wire()}))
    assert "cost: 1.50 accelerator-hours and 0.00 pod-hours beyond the baseline up to 06:10:00" in (
        console.export_text()
    )
    assert cost_line({"cost": {"extraPodSeconds": "many"}}) is None
    assert cost_line({}) is None


def test_a_new_candidate_starts_its_own_cost() -> None:
    status = running(step=4, weight=50, cost=CostStatus(extra_pod_seconds=900, accounted_at=stamp(10)))
    restarted = decide(
        spec_of(candidate={"deployment": "model-v3", "version": "v3"}), status, sized(4, 0), at(20)
    )
    assert cost_of(restarted.status) == CostStatus(accounted_at=stamp(20))
