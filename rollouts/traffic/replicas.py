"""The replicas traffic model: no mesh, one Service in front of both Deployments.

The Service spreads requests over every Ready pod, so the candidate's share of traffic is its
share of Ready pods, and the replica plan is the split. With b the baseline's replicas when the
rollout started and w the weight, the candidate gets ``round(b × w / (100 − w))`` replicas (at
least 1) so that ``c / (b + c)`` approaches w; at 100% the baseline goes to 0. Example: b = 4,
w = 25 → c = round(4/3) = 1, share 1/5 = 20%, which status reports as the effective weight.
"""

from __future__ import annotations

from dataclasses import dataclass

from rollouts.api.spec import ModelRolloutSpec
from rollouts.traffic.base import ReplicaPlan


@dataclass(frozen=True)
class ReplicasTraffic:
    """Traffic share = share of Ready pods between the Deployments behind one Service."""

    pods_are_traffic: bool = True
    platform_sizes: bool = False

    def replica_plan(self, spec: ModelRolloutSpec, weight: int, baseline_replicas: int) -> ReplicaPlan:
        """The ratio formula of the module docstring.

        >>> from rollouts.api.spec import ModelRolloutSpec
        >>> spec = ModelRolloutSpec.model_validate({
        ...     "baseline": {"deployment": "a", "version": "v1"},
        ...     "candidate": {"deployment": "b", "version": "v2"},
        ...     "traffic": {"replicas": {}}, "steps": [{"setWeight": 25}]})
        >>> ReplicasTraffic().replica_plan(spec, 25, 4)
        ReplicaPlan(baseline=4, candidate=1)
        """
        del spec
        base = max(baseline_replicas, 1)
        if weight >= 100:
            return ReplicaPlan(baseline=0, candidate=base)
        return ReplicaPlan(
            baseline=baseline_replicas, candidate=max(1, round(base * weight / (100 - weight)))
        )

    def expected_share(self, spec: ModelRolloutSpec, weight: int, baseline_replicas: int) -> float:
        """The plan's share of pods (it rounds the asked weight)."""
        return self.replica_plan(spec, weight, baseline_replicas).share

    def claimed(self, spec: ModelRolloutSpec) -> frozenset[str]:
        """No traffic object: the Deployments are the split (claimed as every rollout's are)."""
        del spec
        return frozenset()
