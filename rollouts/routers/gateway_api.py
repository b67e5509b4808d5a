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

Mirror and header route (the route shapes are :mod:`rollouts.traffic.gateway_api`'s):
``set_mirror(50)`` writes the weighted rule's ``filters`` with one ``RequestMirror`` filter to the
candidate's backend (its port copied from the candidate's backendRef) at ``percent: 50``, other
filters kept; ``set_header_route(match)`` appends, replaces or removes the one rule named
:func:`~rollouts.traffic.gateway_api.header_rule_name`, always after the weighted rule so the
weighted rule's index never moves. Both patches first ``test`` the rule they rewrite to be
exactly what was read (when appending, the whole list of rules: a header rule that this router
wrote a moment ago but the cache has not yet seen fails the test instead of being appended
twice), the same retry as for weights.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from rollouts.api.spec import HeaderMatch, Traffic
from rollouts.routers.base import JsonPatch, RouterError, RouterTarget, Routing, patch_as_read
from rollouts.runtime.kube import HTTP_ROUTES, KubeObject
from rollouts.traffic.gateway_api import (
    DEFAULT_MATCHES,
    REQUEST_MIRROR,
    backend_share,
    gateway_api_routing,
    header_route_match,
    header_rule_index,
    header_rule_name,
    mirror_filter_index,
    rule_refs,
)

MAX_RULES = 16
"""Gateway API's limit on rules per HTTPRoute."""


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
        return self.get_routing().share

    def get_routing(self) -> Routing:
        """Share, mirror and header route as the route configures them (same checks as the weight)."""
        route = self._read()
        _writable(route, self.rule, self.baseline_backend, self.candidate_backend)
        return gateway_api_routing(route, self.rule, self.baseline_backend, self.candidate_backend)

    def set_weight(self, weight: int) -> None:
        """Write ``100 − weight`` and ``weight``; a no-op when already there."""

        def build(route: KubeObject) -> JsonPatch:
            refs = _writable(route, self.rule, self.baseline_backend, self.candidate_backend)
            if refs.baseline_weight == 100 - weight and refs.candidate_weight == weight:
                return []
            return self._patch(refs, weight)

        patch_as_read(self.target, HTTP_ROUTES, self.route, build)

    def set_mirror(self, percent: int) -> None:
        """One RequestMirror filter to the candidate at ``percent``; 0 removes it; a no-op when there."""

        def build(route: KubeObject) -> JsonPatch:
            refs = _writable(route, self.rule, self.baseline_backend, self.candidate_backend)
            rule = route["spec"]["rules"][self.rule]
            filters = list(rule.get("filters") or [])
            index = mirror_filter_index(rule, self.candidate_backend)
            current = None if index is None else filters.pop(index)
            if percent:
                candidate = rule_refs(route, self.rule)[refs.candidate_index]
                backend = {key: value for key, value in candidate.items() if key not in ("weight", "filters")}
                mirror = {
                    "type": REQUEST_MIRROR,
                    "requestMirror": {"backendRef": backend, "percent": percent},
                }
                if current is not None and current.get("requestMirror", {}).get("percent") == percent:
                    return []
                filters.append(mirror)
            elif current is None:
                return []
            path = f"/spec/rules/{self.rule}"
            test = {"op": "test", "path": path, "value": rule}
            if filters:
                return [test, {"op": "add", "path": f"{path}/filters", "value": filters}]
            return [test, {"op": "remove", "path": f"{path}/filters"}]

        patch_as_read(self.target, HTTP_ROUTES, self.route, build)

    def set_header_route(self, match: tuple[HeaderMatch, ...]) -> None:
        """The rollout's header rule sending ``match`` to the candidate; () removes it; a no-op when there."""

        def build(route: KubeObject) -> JsonPatch:
            _writable(route, self.rule, self.baseline_backend, self.candidate_backend)
            rules = route["spec"]["rules"]
            index = header_rule_index(route, self.rule)
            if index is not None:
                try:
                    current = header_route_match(route, self.rule, self.candidate_backend)
                except RouterError:
                    current = None  # not as the rollout writes it: rewrite it
                if current is not None and set(current) == set(match):
                    return []
                if index < self.rule:
                    raise RouterError(
                        f"HTTPRoute {self.route} has rule {header_rule_name(self.rule)} before rule "
                        f"{self.rule}; move it after (removing it would shift the weighted rule)"
                    )
                test = {"op": "test", "path": f"/spec/rules/{index}", "value": rules[index]}
                if not match:
                    return [test, {"op": "remove", "path": f"/spec/rules/{index}"}]
                return [
                    test,
                    {
                        "op": "replace",
                        "path": f"/spec/rules/{index}",
                        "value": self._header_rule(route, match),
                    },
                ]
            if not match:
                return []
            if len(rules) >= MAX_RULES:
                raise RouterError(
                    f"HTTPRoute {self.route} has {len(rules)} rules, Gateway API's limit: "
                    "no room for the header route"
                )
            # The whole list, not only the weighted rule: a cache that has not yet seen this
            # router's own header rule would otherwise append it a second time.
            test = {"op": "test", "path": "/spec/rules", "value": rules}
            return [test, {"op": "add", "path": "/spec/rules/-", "value": self._header_rule(route, match)}]

        patch_as_read(self.target, HTTP_ROUTES, self.route, build)

    def _header_rule(self, route: KubeObject, match: tuple[HeaderMatch, ...]) -> dict[str, Any]:
        """The weighted rule's matches with ``match`` added, to the candidate's backendRef alone."""
        refs = _writable(route, self.rule, self.baseline_backend, self.candidate_backend)
        weighted = route["spec"]["rules"][self.rule]
        headers = [header.model_dump(mode="json") for header in match]
        candidate = dict(rule_refs(route, self.rule)[refs.candidate_index])
        candidate["weight"] = 1
        rule: dict[str, Any] = {
            "name": header_rule_name(self.rule),
            "matches": [
                {**item, "headers": [*(item.get("headers") or []), *headers]}
                for item in weighted.get("matches") or DEFAULT_MATCHES
            ],
            "backendRefs": [candidate],
        }
        filters = [item for item in weighted.get("filters") or [] if item.get("type") != REQUEST_MIRROR]
        if filters:
            rule["filters"] = filters
        return rule

    def reset(self) -> None:
        """All traffic to the baseline: weight 0, then no mirror, then no header route."""
        self.set_weight(0)
        self.set_mirror(0)
        self.set_header_route(())

    def _patch(self, refs: _Refs, weight: int) -> JsonPatch:
        base = f"/spec/rules/{self.rule}/backendRefs"
        patch: JsonPatch = [
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
