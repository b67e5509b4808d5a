"""The Gateway API traffic model: two backendRefs of one HTTPRoute rule, split by weight.

Weights in an HTTPRoute rule are relative: a backendRef's share is its weight over the sum of
the rule's weights, a missing weight counting as 1 and a backend listed twice counting twice —
what the data plane does. :func:`backend_share` is that rule, the one definition used by the
router (what it reports), the test bed's load generator (where it sends requests) and the tests.
The router writes ``100 − w`` on the baseline's backendRef and ``w`` on the candidate's, so the
share is exactly ``w / 100`` once no other backend in the rule has weight.

Pods do not decide the split here, so the candidate is sized to keep per-pod load comparable
(:func:`rollouts.traffic.base.auto_candidate_replicas`) and the baseline keeps its size.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from rollouts.api.spec import ModelRolloutSpec
from rollouts.traffic.base import ReplicaPlan, RouterError, auto_candidate_replicas

DEFAULT_BACKEND_WEIGHT = 1


def _weight(ref: Mapping[str, Any]) -> int:
    weight = ref.get("weight")
    return DEFAULT_BACKEND_WEIGHT if weight is None else int(weight)


def rule_refs(route: Mapping[str, Any], rule: int) -> list[dict[str, Any]]:
    """The backendRefs of rule ``rule``; :class:`RouterError` naming the route when it has none."""
    name = route.get("metadata", {}).get("name", "<unnamed>")
    rules: list[dict[str, Any]] = route.get("spec", {}).get("rules") or []
    if not 0 <= rule < len(rules):
        raise RouterError(f"HTTPRoute {name} has {len(rules)} rule(s); there is no rule {rule}")
    refs: list[dict[str, Any]] = rules[rule].get("backendRefs") or []
    return refs


def backend_share(route: Mapping[str, Any], rule: int, baseline: str, candidate: str) -> float:
    """The candidate's share of rule ``rule``'s traffic: its weight over all the rule's weights.

    :class:`RouterError` when the rule or either backend is missing, when baseline and candidate
    are one backend, or when every weight is 0 (the rule then serves nothing at all).

    >>> refs = [{"name": "a", "weight": 3}, {"name": "b", "weight": 1}]
    >>> backend_share({"spec": {"rules": [{"backendRefs": refs}]}}, 0, "a", "b")
    0.25
    >>> refs = [{"name": "a", "weight": 2}, {"name": "other", "weight": 1}, {"name": "b", "weight": 1}]
    >>> backend_share({"spec": {"rules": [{"backendRefs": refs}]}}, 0, "a", "b")
    0.25
    """
    name = route.get("metadata", {}).get("name", "<unnamed>")
    if baseline == candidate:
        raise RouterError(f"baseline and candidate are the same backend: {baseline}")
    refs = rule_refs(route, rule)
    names = [ref.get("name") for ref in refs]
    missing = [backend for backend in (baseline, candidate) if backend not in names]
    if missing:
        raise RouterError(
            f"rule {rule} of HTTPRoute {name} has no backendRef named {', '.join(missing)} "
            f"(it has: {', '.join(map(str, names))})"
        )
    total = sum(_weight(ref) for ref in refs)
    if total == 0:
        raise RouterError(f"rule {rule} of HTTPRoute {name} weighs every backend 0")
    return sum(_weight(ref) for ref in refs if ref.get("name") == candidate) / total


@dataclass(frozen=True)
class GatewayAPITraffic:
    """Weights on one rule of one HTTPRoute (see the module docstring)."""

    pods_are_traffic: bool = False

    def replica_plan(self, spec: ModelRolloutSpec, weight: int, baseline_replicas: int) -> ReplicaPlan:
        """The baseline keeps its size; the candidate is sized for comparable per-pod load."""
        return ReplicaPlan(
            baseline=baseline_replicas, candidate=auto_candidate_replicas(spec, weight, baseline_replicas)
        )

    def expected_share(self, spec: ModelRolloutSpec, weight: int, baseline_replicas: int) -> float:
        """Exactly the weight: the router writes ``100 − w`` and ``w``."""
        del spec, baseline_replicas
        return weight / 100

    def claimed(self, spec: ModelRolloutSpec) -> frozenset[str]:
        """The HTTPRoute rule the rollout writes."""
        route = spec.traffic.gateway_api
        return (
            frozenset() if route is None else frozenset({f"HTTPRoute {route.http_route} rule {route.rule}"})
        )
