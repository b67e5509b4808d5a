"""The traffic-model Protocol and the values every model shares."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from rollouts.api.spec import HeaderMatch, ModelRolloutSpec


class RouterError(ValueError):
    """The route or Deployments cannot give the share asked for as they are; the message says why."""


@dataclass(frozen=True)
class Routing:
    """What a routing object tells the data plane, in one value; the load generator and routers share it.

    A request matching every entry of ``header_match`` goes to the candidate; any other request
    goes to the candidate with probability ``share``, else to the baseline — and is *also* sent
    to the candidate with probability ``mirror`` when it went to the baseline, the candidate's
    answer discarded.
    """

    share: float
    """The candidate's share of live (non-header-matched) traffic, in [0, 1]."""
    mirror: float = 0.0
    """The fraction of requests also sent to the candidate, answers discarded, in [0, 1]."""
    header_match: tuple[HeaderMatch, ...] = ()
    """Requests matching all of these go to the candidate; () routes none by header."""


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

    @property
    def platform_sizes(self) -> bool:
        """True when the serving platform sizes both versions (Knative's, with the kserve router).

        The controller then writes no replicas and scales nothing down.
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

    >>> from rollouts.api.spec import HeaderMatch, ModelRolloutSpec
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


@dataclass(frozen=True)
class WeightTraffic:
    """What the weight routers (HTTPRoute, VirtualService) share: the share is the weight.

    The router writes ``100 − w`` and ``w``; the baseline keeps its size and the candidate is
    sized for comparable per-pod load. Each router kind adds what it claims.
    """

    pods_are_traffic: bool = False
    platform_sizes: bool = False

    def replica_plan(self, spec: ModelRolloutSpec, weight: int, baseline_replicas: int) -> ReplicaPlan:
        """The baseline keeps its size; the candidate is sized for comparable per-pod load."""
        return ReplicaPlan(
            baseline=baseline_replicas, candidate=auto_candidate_replicas(spec, weight, baseline_replicas)
        )

    def expected_share(self, spec: ModelRolloutSpec, weight: int, baseline_replicas: int) -> float:
        """Exactly the weight: the router writes ``100 − w`` and ``w``."""
        del spec, baseline_replicas
        return weight / 100
