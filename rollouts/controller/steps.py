"""Step arithmetic: replica plans, expected traffic shares, plan hashes and resume points.

Pure functions over the spec, kept apart from the state machine so each rule can be tested by
itself with a table of numbers.

Replica plans (``candidate.replicas: auto``), with b the baseline's replicas when the rollout
started and w the weight in percent:

- Behind a router that splits by weight (Gateway API), per-pod load stays comparable when the
  candidate gets ``ceil(b × w / 100)`` replicas, at least 1, and b from 100%.
  Example: b = 8, w = 25 → 2 candidate pods, each seeing the same load as a baseline pod.
- With the ``replicas`` router the split *is* the replica ratio, so the candidate gets
  ``round(b × w / (100 − w))`` replicas (at least 1) for its share ``c / (b + c)`` to approach w;
  at 100% the baseline goes to 0. Example: b = 4, w = 25 → c = round(4/3) = 1, share 1/5 = 20%,
  which status reports as the effective weight.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass

from rollouts.api.spec import ModelRolloutSpec, Step


@dataclass(frozen=True)
class ReplicaPlan:
    """Desired replicas of both Deployments at one weight."""

    baseline: int
    candidate: int

    @property
    def share(self) -> float:
        """The candidate's share of pods (the traffic share under the replicas router)."""
        total = self.baseline + self.candidate
        return self.candidate / total if total else 0.0


def steps_hash(steps: tuple[Step, ...]) -> str:
    """A short, stable hash of the plan; a changed hash means the steps were edited."""
    wire = json.dumps([step.to_wire() for step in steps], sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(wire.encode()).hexdigest()[:16]


def first_weight(steps: tuple[Step, ...]) -> int:
    """The first non-zero weight the plan asks for (100 when no step sets one)."""
    return next((s.set_weight for s in steps if s.set_weight), 100)


def resume_index(steps: tuple[Step, ...], current_weight: int) -> int:
    """Where to continue after the steps were edited, without moving traffic backwards.

    The first setWeight step whose weight is at least the current weight: every gate and
    analysis at or after the current weight runs again. Past the last such step: the end.
    """
    return next(
        (
            i
            for i, step in enumerate(steps)
            if step.set_weight is not None and step.set_weight >= current_weight
        ),
        len(steps),
    )


def replica_plan(spec: ModelRolloutSpec, weight: int, baseline_replicas: int) -> ReplicaPlan:
    """Replicas of both versions at ``weight`` (see the module docstring for the formulas)."""
    base = max(baseline_replicas, 1)
    pinned = spec.candidate.replicas
    if spec.traffic.replicas is not None:
        if weight >= 100:
            return ReplicaPlan(baseline=0, candidate=base)
        candidate = max(1, round(base * weight / (100 - weight)))
        return ReplicaPlan(baseline=baseline_replicas, candidate=candidate)
    if isinstance(pinned, int):
        return ReplicaPlan(baseline=baseline_replicas, candidate=pinned)
    candidate = base if weight >= 100 else max(1, math.ceil(base * weight / 100))
    return ReplicaPlan(baseline=baseline_replicas, candidate=candidate)


def expected_share(spec: ModelRolloutSpec, weight: int, baseline_replicas: int) -> float:
    """The candidate share the router should report once ``weight`` is in place."""
    if spec.traffic.replicas is not None:
        return replica_plan(spec, weight, baseline_replicas).share
    return weight / 100
