"""The traffic-model Protocol and the values every model shares."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from rollouts.api.spec import ModelRolloutSpec


class RouterError(ValueError):
    """The route or Deployments cannot give the share asked for as they are; the message says why."""


@dataclass(frozen=True)
class ReplicaPlan:
    """Desired replicas of both Deployments at one weight."""

    baseline: int
    candidate: int

    @property
    def share(self) -> float:
        """The candidate's share of pods (the traffic share when pods are the traffic)."""
        total = self.baseline + self.candidate
        return self.candidate / total if total else 0.0


class TrafficModel(Protocol):
    """What one router kind means for a rollout (see the package docstring)."""

    @property
    def pods_are_traffic(self) -> bool:
        """True when every Ready pod takes requests (no weight in front of them).

        The replica plan then *is* the split, a baseline at 0 serves nothing, and replaced
        candidates' pods take a share too.
        """
        ...

    def replica_plan(self, spec: ModelRolloutSpec, weight: int, baseline_replicas: int) -> ReplicaPlan:
        """Replicas of both versions at ``weight`` percent (``baseline_replicas`` at the start)."""
        ...

    def expected_share(self, spec: ModelRolloutSpec, weight: int, baseline_replicas: int) -> float:
        """The candidate share the router should report once ``weight`` is in place."""
        ...

    def claimed(self, spec: ModelRolloutSpec) -> frozenset[str]:
        """The traffic objects the rollout acts on, named as a person reads them."""
        ...


def auto_candidate_replicas(spec: ModelRolloutSpec, weight: int, baseline_replicas: int) -> int:
    """A weight-split candidate's size: pinned, or ``ceil(b × w / 100)`` (≥ 1), b from 100%.

    Per-pod load stays comparable with the baseline's: b = 8, w = 25 → 2 candidate pods.

    >>> from rollouts.api.spec import ModelRolloutSpec
    >>> spec = ModelRolloutSpec.model_validate({
    ...     "baseline": {"deployment": "a", "version": "v1"},
    ...     "candidate": {"deployment": "b", "version": "v2"},
    ...     "traffic": {"replicas": {}}, "steps": [{"setWeight": 25}]})
    >>> auto_candidate_replicas(spec, 25, 8), auto_candidate_replicas(spec, 100, 8)
    (2, 8)
    """
    pinned = spec.candidate.replicas
    if isinstance(pinned, int):
        return pinned
    base = max(baseline_replicas, 1)
    return base if weight >= 100 else max(1, -(-base * weight // 100))
