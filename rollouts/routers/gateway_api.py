"""The Gateway API router: the weights of two backendRefs in one rule of an HTTPRoute.

Weights in an HTTPRoute rule are relative: a backendRef's share is its weight over the sum of
the rule's weights (a missing weight counts as 1). The router writes ``100 − w`` on the
baseline's backendRef and ``w`` on the candidate's, so the share is exactly ``w / 100``, and
touches nothing else in the route.

Writes are JSON patches that first ``test`` what was read — the names at the two indexes and
their current weights — so an edit made by someone else between read and write is detected
(the API server refuses the patch) instead of overwritten; the router then re-reads and tries
again, a few times. A rule that also sends traffic to a third backend is refused: the
candidate's share would not be what the rollout asks for.

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
from rollouts.routers import RouterError
from rollouts.runtime.kube import HTTP_ROUTES, Kube, KubeObject, NotFound, PatchTestFailed, PatchType

PATCH_ATTEMPTS = 3
DEFAULT_BACKEND_WEIGHT = 1


@dataclass(frozen=True)
class _Refs:
    """Where the two backendRefs sit in the rule, and their weights as read."""

    baseline_index: int
    candidate_index: int
    baseline_weight: int | None
    candidate_weight: int | None
    other_weight: int


def backend_share(route: KubeObject, rule: int, baseline: str, candidate: str) -> float:
    """The candidate's share of the rule's traffic, from an HTTPRoute object (pure).

    >>> refs = [{"name": "a", "weight": 3}, {"name": "b", "weight": 1}]
    >>> backend_share({"spec": {"rules": [{"backendRefs": refs}]}}, 0, "a", "b")
    0.25
    """
    refs = _locate(route, rule, baseline, candidate, route_name="")
    weights = (
        _effective(refs.baseline_weight),
        _effective(refs.candidate_weight),
    )
    total = weights[0] + weights[1] + refs.other_weight
    return weights[1] / total if total else 0.0


def _effective(weight: int | None) -> int:
    return DEFAULT_BACKEND_WEIGHT if weight is None else weight


def _locate(route: KubeObject, rule: int, baseline: str, candidate: str, route_name: str) -> _Refs:
    where = f"HTTPRoute {route_name}" if route_name else "HTTPRoute"
    rules: list[dict[str, Any]] = route.get("spec", {}).get("rules") or []
    if rule >= len(rules):
        raise RouterError(f"{where} has {len(rules)} rule(s); spec.traffic.gatewayAPI.rule is {rule}")
    refs: list[dict[str, Any]] = rules[rule].get("backendRefs") or []
    names = [ref.get("name") for ref in refs]
    missing = [name for name in (baseline, candidate) if name not in names]
    if missing:
        raise RouterError(
            f"{where} rule {rule} has no backendRef named {', '.join(missing)} "
            f"(it has: {', '.join(map(str, names))})"
        )
    baseline_index, candidate_index = names.index(baseline), names.index(candidate)
    others = [
        _effective(ref.get("weight"))
        for index, ref in enumerate(refs)
        if index not in (baseline_index, candidate_index)
    ]
    if any(others):
        raise RouterError(
            f"{where} rule {rule} also sends traffic to other backendRefs; set their weight to 0 or "
            "move them to another rule"
        )
    return _Refs(
        baseline_index=baseline_index,
        candidate_index=candidate_index,
        baseline_weight=refs[baseline_index].get("weight"),
        candidate_weight=refs[candidate_index].get("weight"),
        other_weight=sum(others),
    )


@dataclass(frozen=True)
class GatewayAPIRouter:
    """Weights on one rule of one HTTPRoute (see the module docstring)."""

    kube: Kube
    namespace: str
    route: str
    rule: int
    baseline_backend: str
    candidate_backend: str

    @classmethod
    def create(
        cls,
        kube: Kube,
        traffic: Traffic,
        namespace: str,
        baseline: str,
        candidate: str,
        *,
        replaced: tuple[str, ...] = (),
    ) -> GatewayAPIRouter:
        """Build from ``spec.traffic.gatewayAPI`` (the Deployment names are not needed here)."""
        del baseline, candidate, replaced
        spec = traffic.gateway_api
        if spec is None:
            raise RouterError("spec.traffic.gatewayAPI is not set")
        return cls(kube, namespace, spec.http_route, spec.rule, spec.baseline_backend, spec.candidate_backend)

    def _read(self) -> tuple[KubeObject, _Refs]:
        try:
            route = self.kube.get(HTTP_ROUTES, self.route, self.namespace)
        except NotFound as missing:
            raise RouterError(f"HTTPRoute {self.namespace}/{self.route} not found") from missing
        return route, _locate(route, self.rule, self.baseline_backend, self.candidate_backend, self.route)

    def get_weight(self) -> float:
        """The candidate's configured share of the rule's traffic."""
        route, _ = self._read()
        return backend_share(route, self.rule, self.baseline_backend, self.candidate_backend)

    def set_weight(self, weight: int) -> None:
        """Write ``100 − weight`` and ``weight``; a no-op when already there."""
        for attempt in range(PATCH_ATTEMPTS):
            _, refs = self._read()
            if refs.baseline_weight == 100 - weight and refs.candidate_weight == weight:
                return
            try:
                self.kube.patch(
                    HTTP_ROUTES, self.route, self._patch(refs, weight), PatchType.JSON, self.namespace
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
