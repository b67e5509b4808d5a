"""The GPU budget (``spec.capacity.maxSurge``): the replica plan when both versions must fit.

Why: with a weight router the baseline stays full size while the candidate grows, so a rollout
needs up to twice the baseline's accelerators. Under a budget the baseline gives up pods as the
candidate's replace them, and never more than its traffic share needs.

Notation: ``b`` is the baseline's size at the start (``status.baselineReplicas``), ``s`` the
surge in pods (:func:`surge_pods`), ``L = b + s`` the budget, ``w`` the weight, ``C`` the
candidate's planned size at ``w`` (the traffic model's) and ``r`` its Ready pods now.

While the rollout runs (and after a promotion), :func:`split` gives

- baseline ``B = min(b, max(T, b − r))`` while ``r < C`` (else ``min(b, T)``), where ``T``, the
  baseline's target once the candidate has taken over, is ``max(ceil(b·(100 − w)/100), L − C)``
  — what its share needs, or more when the budget has room (a rollback then has fewer pods to
  load) — and 0 after the promoted rollout's ``scaleDown.delay``;
- candidate ``min(C, L − B)``, never below 0.

``B ≤ b ≤ L`` and the candidate is at most ``L − B``, so ``B + candidate ≤ L`` for every
weight and observed state. ``B ≥ b − r`` until the candidate is Ready at its planned size: the
baseline gives up a pod only after a Ready candidate pod replaced it (the ``baseline_down_to``
rule, pod by pod), so the two together keep at least ``b`` Ready pods once they were Ready.
``B ≥ ceil(b·(100 − w)/100)``: the baseline keeps what its share needs, at least one pod while
its share is above 0, and ``B ≥ L − C = s ≥ 1`` at 100% until the promotion's scale-down: a
rollback always finds a baseline pod to send traffic back to. For
auto sizes ``ceil(b·(100 − w)/100) + ceil(b·w/100) ≤ b + 1 ≤ L``, so the budget never holds the
candidate below its share's size once the baseline's pods are free; a pinned
``candidate.replicas`` larger than that is held to ``L − B``.

The sizes are spec.replicas, written by the reconciler decreases first (see
rollouts.controller.shell.reconciler): a candidate grows only in a write after the baseline's
shrink, and a baseline grows back only after the candidate's shrink, so the sum of the two
spec.replicas is within ``L`` at every instant. A pod being deleted still holds its
accelerator until it is gone, so a side grows only into room the other side's existing pods,
Terminating ones included, leave (:func:`beside`): the pods that exist stay within ``L`` too.

After a rollback, abort or failure, :func:`restored` brings the baseline back to ``b`` as far as
the candidate leaves room. Traffic goes back at once (harm beats capacity: the baseline always
has a pod, above), so the candidate, serving nothing, is cut at once to what the budget leaves
(``min(its size, s)``) and the baseline grows to ``b``. Until its new pods have loaded their
models, the baseline's ``B`` pods carry all the traffic (docs/safety.md, "GPU budget").

Only weight routers: with the replicas router the pods are the traffic, and a baseline shrunk
for the budget would change the split (the spec refuses it; so too with ``spec.autoscaler``,
which owns the baseline's size).
"""

from __future__ import annotations

from dataclasses import dataclass

from rollouts.api.spec import MaxSurge
from rollouts.controller.core.observed import DeploymentState
from rollouts.guardrails.headroom import surge_in_pods
from rollouts.traffic.base import ReplicaPlan


@dataclass(frozen=True)
class Budget:
    """The most pods baseline + candidate may have together: ``baseline + surge``."""

    baseline: int
    """b: the baseline's size at the start."""
    surge: int
    """s: pods beyond b."""

    @property
    def limit(self) -> int:
        """L = b + s."""
        return self.baseline + self.surge


def surge_pods(surge: MaxSurge, baseline: DeploymentState, candidate: DeploymentState) -> int:
    """``maxSurge`` in pods: as given, or accelerators over the larger per-pod request.

    A pod asking for no accelerator counts as one, so a budget in accelerators never admits
    more pods than accelerators.
    """
    return surge_in_pods(surge, max(baseline.accelerators, candidate.accelerators))


def share_needs(baseline: int, weight: int) -> int:
    """Baseline pods its traffic share needs at ``weight``: ``ceil(b·(100 − w)/100)``."""
    return -(-baseline * (100 - min(weight, 100)) // 100)


def split(budget: Budget, target: int, candidate: int, candidate_ready: int) -> ReplicaPlan:
    """Desired sizes under ``budget`` (module docstring): the baseline's, then the candidate's in the rest."""
    b = budget.baseline
    replaced = b - candidate_ready if candidate_ready < candidate else 0
    kept = min(b, max(target, replaced))
    return ReplicaPlan(baseline=kept, candidate=max(0, min(candidate, budget.limit - kept)))


def beside(
    budget: Budget, plan: ReplicaPlan, baseline: DeploymentState, candidate: DeploymentState
) -> ReplicaPlan:
    """``plan``, each side grown only as far as the other side's pods (Terminating too) leave room.

    Never below a side's current size (capped at the plan's): a pod of the other side still
    terminating is a reason to wait before growing, not to shrink.
    """

    def grown(wanted: int, current: int, held: int) -> int:
        return min(wanted, max(min(current, wanted), budget.limit - held))

    sized = grown(plan.candidate, candidate.replicas, max(plan.baseline, baseline.pods))
    return ReplicaPlan(
        baseline=grown(plan.baseline, baseline.replicas, max(sized, candidate.pods)), candidate=sized
    )


def restored(budget: Budget, candidate: int) -> int:
    """The baseline's size after a rollback: ``b``, as far as ``candidate`` candidate pods leave room."""
    return max(0, min(budget.baseline, budget.limit - candidate))
