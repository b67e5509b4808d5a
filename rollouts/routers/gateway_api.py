"""The Gateway API router: the weights of two backendRefs in one rule of an HTTPRoute.

The share a rule gives the candidate is :func:`rollouts.traffic.gateway_api.backend_share` — the
one definition, also used by the test bed's load generator. The router writes ``100 − w`` on the
baseline's backendRef and ``w`` on the candidate's, so the share is exactly ``w / 100``, and
touches nothing else in the route. A rule that also sends traffic to a third backend, or lists
one of the two backends twice, is refused: the router could not make the share what the rollout
asks for.

Reads come from the target's reader (the controller's HTTPRoute cache). Writes are JSON patches
that first ``test`` what was read — the names at the two indexes and their current weights — so
an edit made by someone else since (or a cache that lags) is detected by the API server instead
of overwritten; the router then reads the route live and tries again, a few times.

Example: rule 0 has backendRefs ``[{name: v1, weight: 90}, {name: v2, weight: 10}]``; the
candidate's share is 10 / (90 + 10) = 10%. ``set_weight(25)`` sends::

    [{"op": "test", "path": "/spec/rules/0/backendRefs/0/name", "value": "v1"},
     {"op": "test", "path": "/spec/rules/0/backendRefs/1/name", "value": "v2"},
     {"op": "test", "path": "/spec/rules/0/backendRefs/0/weight", "value": 90},
     {"op": "test", "path": "/spec/rules/0/backendRefs/1/weight", "value": 10},
     {"op": "add", "path": "/spec/rules/0/backendRefs/0/weight", "value": 75},
     {"op": "add", "path": "/spec/rules/0/backendRefs/1/weight", "value": 25}]
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from rollouts.api.spec import Traffic
from rollouts.routers.base import RouterError, RouterTarget
from rollouts.runtime.kube import HTTP_ROUTES, KubeObject, PatchTestFailed, PatchType
from rollouts.traffic.gateway_api import backend_share, rule_refs

PATCH_ATTEMPTS = 3


@dataclass(frozen=True)
class _Refs:
    """Where the two backendRefs sit in the rule, and their weights as read."""

    baseline_index: int
    candidate_index: int
    baseline_weight: int | None
    candidate_weight: int | None


def _writable(route: KubeObject, rule: int, baseline: str, candidate: str) -> _Refs:
    """The two backendRefs to write; RouterError when no write can give the asked share."""
    backend_share(route, rule, baseline, candidate)  # the rule and both backends exist
    refs = rule_refs(route, rule)
    names = [ref.get("name") for ref in refs]
    name = route.get("metadata", {}).get("name", "<unnamed>")
    twice = [backend for backend in (baseline, candidate) if names.count(backend) > 1]
    if twice:
        raise RouterError(f"HTTPRoute {name} rule {rule} lists {', '.join(twice)} more than once")
    baseline_index, candidate_index = names.index(baseline), names.index(candidate)
    others = [ref for index, ref in enumerate(refs) if index not in (baseline_index, candidate_index)]
    if any(ref.get("weight", 1) for ref in others):
        raise RouterError(
            f"HTTPRoute {name} rule {rule} also sends traffic to other backendRefs; set their weight to 0 or "
            "move them to another rule"
        )
    return _Refs(
        baseline_index=baseline_index,
        candidate_index=candidate_index,
        baseline_weight=refs[baseline_index].get("weight"),
        candidate_weight=refs[candidate_index].get("weight"),
    )


@dataclass(frozen=True)
class GatewayAPIRouter:
    """Weights on one rule of one HTTPRoute (see the module docstring)."""

    target: RouterTarget
    route: str
    rule: int
    baseline_backend: str
    candidate_backend: str

    @classmethod
    def create(cls, traffic: Traffic, target: RouterTarget) -> GatewayAPIRouter:
        """Build from ``spec.traffic.gatewayAPI`` (the Deployment names are not needed here)."""
        spec = traffic.gateway_api
        if spec is None:
            raise RouterError("spec.traffic.gatewayAPI is not set")
        return cls(target, spec.http_route, spec.rule, spec.baseline_backend, spec.candidate_backend)

    def _read(self, live: bool = False) -> KubeObject:
        target = self.target
        route = (target.get_live if live else target.get)(HTTP_ROUTES, self.route)
        if route is None:
            raise RouterError(f"HTTPRoute {target.namespace}/{self.route} not found")
        return route

    def get_weight(self) -> float:
        """The candidate's configured share of the rule's traffic.

        A rule this router cannot write (a third backend with weight, a backend listed twice) is
        an error here too, so status names the problem instead of a share that never moves.
        """
        route = self._read()
        _writable(route, self.rule, self.baseline_backend, self.candidate_backend)
        return backend_share(route, self.rule, self.baseline_backend, self.candidate_backend)

    def set_weight(self, weight: int) -> None:
        """Write ``100 − weight`` and ``weight``; a no-op when already there."""
        for attempt in range(PATCH_ATTEMPTS):
            route = self._read(live=attempt > 0)
            refs = _writable(route, self.rule, self.baseline_backend, self.candidate_backend)
            if refs.baseline_weight == 100 - weight and refs.candidate_weight == weight:
                return
            try:
                self.target.kube.patch(
                    HTTP_ROUTES, self.route, self._patch(refs, weight), PatchType.JSON, self.target.namespace
                )
                return
            except PatchTestFailed:
                if attempt == PATCH_ATTEMPTS - 1:
                    raise

    def reset(self) -> None:
        """All traffic to the baseline."""
        self.set_weight(0)

    def _patch(self, refs: _Refs, weight: int) -> list[dict[str, Any]]:
        base = f"/spec/rules/{self.rule}/backendRefs"
        patch: list[dict[str, Any]] = [
            {"op": "test", "path": f"{base}/{refs.baseline_index}/name", "value": self.baseline_backend},
            {"op": "test", "path": f"{base}/{refs.candidate_index}/name", "value": self.candidate_backend},
        ]
        for index, current in (
            (refs.baseline_index, refs.baseline_weight),
            (refs.candidate_index, refs.candidate_weight),
        ):
            if current is not None:
                patch.append({"op": "test", "path": f"{base}/{index}/weight", "value": current})
        patch += [
            {"op": "add", "path": f"{base}/{refs.baseline_index}/weight", "value": 100 - weight},
            {"op": "add", "path": f"{base}/{refs.candidate_index}/weight", "value": weight},
        ]
        return patch
