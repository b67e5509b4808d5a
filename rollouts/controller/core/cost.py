"""The rollout's cost: the pod-seconds and accelerator-seconds it used beyond the baseline.

The number a GPU budget owner asks of a rollout is "how many GPU-hours did it cost?". For its
whole duration a rollout runs two versions side by side, so the cluster holds more pods — and,
for a model server, more accelerators — than the baseline alone would. :func:`account` folds
that extra into ``status.cost`` at reconciles, purely, from the sizes the reconciler observed:

- *Beyond the baseline* means beyond what the baseline held when the rollout started:
  ``status.baselineReplicas`` pods, each with the accelerators of the baseline's pod template.
  The extra is what the rollout's Deployments (baseline, candidate, replaced candidates not yet
  gone) hold together minus that, never below 0: a candidate at 2 pods beside an untouched
  baseline is 2 extra pods; a baseline scaled to 0 with the candidate at full size is none.
  An autoscaler growing the baseline meanwhile counts too: the cluster held those pods.
- Pods are counted from each Deployment's ``spec.replicas``, not its Ready pods: a model
  server holds its GPU from the moment it is scheduled, through minutes of model loading,
  before it is Ready, and that reservation is what the budget pays for. A pod that cannot be
  scheduled holds nothing and is still counted, so the number is an upper bound of what is
  reserved while a candidate waits for room (``progressDeadline`` ends that wait).
- Accelerators per pod are what the pod template asks for among
  ``spec.guardrails.acceleratorResources`` (rollouts.guardrails.accelerators.pod_demand).
- Status is the only memory. ``extraPods`` and ``extraAccelerators`` record the extra seen at
  ``accountedAt``; a later reconcile adds the time since then at that rate — a change of either
  Deployment's size wakes the controller at once, so the size seen last is the size that held
  — and moves ``accountedAt`` to its ``now``. Each second is counted once, and a clock that
  went backwards (a new leader) adds nothing.
- The extra is accounted when it changes, and at a reconcile at least :data:`ACCOUNT_EVERY`
  after the last accounting otherwise (analysis looks reconcile every interval). Accounting
  at every reconcile would change status at every reconcile, and a status write is itself a
  change that triggers one. No timer is set for it: a steady extra loses nothing by waiting.
- A gap longer than :data:`MAX_GAP` in which the extra changed — the controller was down, or
  leadership moved, so the change was not watched — is counted at the lower of the rates seen
  before and after it: the cost of such a gap is a lower bound, never invented. A long gap
  with the same extra at both ends is counted in full (a change would have woken the
  controller).
- Accounting starts with the rollout and stops when the loser's scale-down is decided
  (``status.scaledDownAt``); from then on ``status.cost`` is final, and the ``ScaledDown``
  history entry and Event — the rollout's record of its end — say what it cost. A rollout
  that was running when the controller was upgraded to one that keeps costs counts from the
  upgrade.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from rollouts.api.status import CostStatus, ModelRolloutStatus
from rollouts.api.timestamps import format_timestamp, parse_timestamp
from rollouts.controller.core.observed import Observed

ACCOUNT_EVERY = timedelta(minutes=5)
"""A steady extra is accounted at the first reconcile this long after the last accounting."""
MAX_GAP = timedelta(minutes=15)
"""A longer gap between accountings was not watched (see the module docstring)."""


@dataclass(frozen=True)
class Extra:
    """Pods and accelerators held beyond the baseline's size at the start."""

    pods: int
    accelerators: int


def extra(observed: Observed, baseline_replicas: int) -> Extra:
    """What the rollout's Deployments hold now beyond ``baseline_replicas`` baseline pods."""
    held = {state.name: state for state in (observed.baseline, observed.candidate, *observed.replaced)}
    present = [state for state in held.values() if state.exists]
    pods = sum(state.replicas for state in present)
    accelerators = sum(state.replicas * state.accelerators for state in present)
    return Extra(
        pods=max(0, pods - baseline_replicas),
        accelerators=max(0, accelerators - baseline_replicas * observed.baseline.accelerators),
    )


def account(status: ModelRolloutStatus, observed: Observed, now: datetime) -> CostStatus | None:
    """``status.cost`` after this reconcile (see the module docstring for the rules)."""
    cost, scaled_down = status.cost, status.scaled_down_at
    ending = scaled_down is not None
    if status.started_at is None or status.baseline_replicas is None or (cost is None and ending):
        return cost
    seen = extra(observed, status.baseline_replicas)
    if cost is None:
        return CostStatus(
            extra_pods=seen.pods, extra_accelerators=seen.accelerators, accounted_at=format_timestamp(now)
        )
    since = parse_timestamp(cost.accounted_at)
    if scaled_down is not None and since >= parse_timestamp(scaled_down):
        return cost  # final: accounted up to the scale-down
    elapsed = now - since
    unchanged = (seen.pods, seen.accelerators) == (cost.extra_pods, cost.extra_accelerators)
    if elapsed <= timedelta(0) or (unchanged and not ending and elapsed < ACCOUNT_EVERY):
        return cost
    pods, accelerators = cost.extra_pods, cost.extra_accelerators
    if elapsed > MAX_GAP:
        pods, accelerators = min(pods, seen.pods), min(accelerators, seen.accelerators)
    seconds = elapsed.total_seconds()
    return CostStatus(
        extra_pod_seconds=round(cost.extra_pod_seconds + pods * seconds, 3),
        extra_accelerator_seconds=round(cost.extra_accelerator_seconds + accelerators * seconds, 3),
        extra_pods=seen.pods,
        extra_accelerators=seen.accelerators,
        accounted_at=format_timestamp(now),
    )


def describe(cost: CostStatus) -> str:
    """``2.00 accelerator-hours and 1.00 pod-hours beyond the baseline``: for Events and the CLI."""
    accelerator_hours = cost.extra_accelerator_seconds / 3600
    pod_hours = cost.extra_pod_seconds / 3600
    return f"{accelerator_hours:.2f} accelerator-hours and {pod_hours:.2f} pod-hours beyond the baseline"
