"""The Gateway API traffic model: two backendRefs of one HTTPRoute rule, split by weight.

Weights in an HTTPRoute rule are relative: a backendRef's share is its weight over the sum of
the rule's weights, a missing weight counting as 1 and a backend listed twice counting twice —
what the data plane does. :func:`backend_share` is that rule, the one definition used by the
router (what it reports), the test bed's load generator (where it sends requests) and the tests.
The router writes ``100 − w`` on the baseline's backendRef and ``w`` on the candidate's, so the
share is exactly ``w / 100`` once no other backend in the rule has weight.

Pods do not decide the split here, so the candidate is sized to keep per-pod load comparable
(:func:`rollouts.traffic.base.auto_candidate_replicas`) and the baseline keeps its size.

Mirror and header route (:func:`gateway_api_routing`, the one reading of a route into a
:class:`~rollouts.traffic.base.Routing`, used by the router and the test bed's load generator):

- The mirror is a ``RequestMirror`` filter on the weighted rule whose ``backendRef`` names the
  candidate's backend; its ``percent`` (or ``fraction``; neither: 100%) is the mirrored share.
  Gateway API v1.6 has both fields in the standard channel (Support: Extended).
- The header route is one extra rule the rollout owns, named :func:`header_rule_name` (rule
  ``name`` is in the standard channel since v1.2), sending only to the candidate. It copies
  the weighted rule's matches and adds the headers: Gateway API gives precedence, at an equal
  path and method, to the match with more header matches, so matching requests take this rule
  and all others the weighted one. The headers are those of its first match that the weighted
  rule's first match lacks.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from rollouts.api.spec import HeaderMatch, HeaderMatchType, ModelRolloutSpec
from rollouts.traffic.base import RouterError, Routing, WeightTraffic

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


REQUEST_MIRROR = "RequestMirror"
DEFAULT_MATCHES: tuple[dict[str, Any], ...] = ({"path": {"type": "PathPrefix", "value": "/"}},)
"""What an HTTPRoute rule without ``matches`` matches (the CRD's default): every request."""


def header_rule_name(rule: int) -> str:
    """The name of the rule holding the header route for weighted rule ``rule``."""
    return f"model-rollouts-headers-{rule}"


def mirror_filter_index(rule: Mapping[str, Any], candidate: str) -> int | None:
    """Where the RequestMirror filter to ``candidate`` sits in the rule's filters (None: none)."""
    for index, item in enumerate(rule.get("filters") or []):
        mirror = item.get("requestMirror") or {}
        if item.get("type") == REQUEST_MIRROR and mirror.get("backendRef", {}).get("name") == candidate:
            return index
    return None


def mirror_fraction(rule: Mapping[str, Any], candidate: str) -> float:
    """The fraction of the rule's requests mirrored to ``candidate``: percent, fraction, or all.

    >>> mirror = {"type": "RequestMirror", "requestMirror": {"backendRef": {"name": "b"}, "percent": 50}}
    >>> mirror_fraction({"filters": [mirror]}, "b"), mirror_fraction({"filters": [mirror]}, "a")
    (0.5, 0.0)
    >>> fraction = {"backendRef": {"name": "b"}, "fraction": {"numerator": 1, "denominator": 8}}
    >>> mirror_fraction({"filters": [{"type": "RequestMirror", "requestMirror": fraction}]}, "b")
    0.125
    """
    index = mirror_filter_index(rule, candidate)
    if index is None:
        return 0.0
    mirror = rule["filters"][index]["requestMirror"]
    if mirror.get("percent") is not None:
        return int(mirror["percent"]) / 100
    fraction = mirror.get("fraction")
    if fraction is not None:
        return int(fraction["numerator"]) / int(fraction.get("denominator") or 100)
    return 1.0


def header_rule_index(route: Mapping[str, Any], rule: int) -> int | None:
    """The index of the rollout's header-route rule for weighted rule ``rule`` (None: none)."""
    name = header_rule_name(rule)
    rules = route.get("spec", {}).get("rules") or []
    return next((index for index, item in enumerate(rules) if item.get("name") == name), None)


def _headers(match: Mapping[str, Any]) -> tuple[HeaderMatch, ...]:
    return tuple(
        HeaderMatch(name=item["name"], value=item["value"], type=HeaderMatchType(item.get("type") or "Exact"))
        for item in match.get("headers") or []
    )


def header_route_match(route: Mapping[str, Any], rule: int, candidate: str) -> tuple[HeaderMatch, ...]:
    """The headers that send a request to ``candidate`` by the rollout's rule; () when none.

    :class:`RouterError` when the rule is there but sends elsewhere than the candidate alone.
    """
    index = header_rule_index(route, rule)
    if index is None:
        return ()
    rules = route["spec"]["rules"]
    owned = rules[index]
    name = route.get("metadata", {}).get("name", "<unnamed>")
    refs = [ref.get("name") for ref in owned.get("backendRefs") or []]
    if refs != [candidate]:
        raise RouterError(
            f"HTTPRoute {name} rule {owned.get('name')} (the rollout's header route) sends to "
            f"{', '.join(map(str, refs)) or 'nothing'}, not {candidate} alone; delete the rule"
        )
    weighted = (rules[rule].get("matches") or DEFAULT_MATCHES)[0]
    mine = (owned.get("matches") or DEFAULT_MATCHES)[0]
    theirs = set(_headers(weighted))
    return tuple(header for header in _headers(mine) if header not in theirs)


def gateway_api_routing(route: Mapping[str, Any], rule: int, baseline: str, candidate: str) -> Routing:
    """What the route tells the data plane about the candidate: share, mirror, header route.

    >>> refs = [{"name": "a", "weight": 100}, {"name": "b", "weight": 0}]
    >>> mirror = {"type": "RequestMirror", "requestMirror": {"backendRef": {"name": "b"}, "percent": 50}}
    >>> headers = {"name": "model-rollouts-headers-0", "backendRefs": [{"name": "b"}],
    ...            "matches": [{"headers": [{"name": "x-canary", "value": "1"}]}]}
    >>> routing = gateway_api_routing(
    ...     {"spec": {"rules": [{"backendRefs": refs, "filters": [mirror]}, headers]}}, 0, "a", "b")
    >>> routing.share, routing.mirror, [(h.name, h.value) for h in routing.header_match]
    (0.0, 0.5, [('x-canary', '1')])
    """
    share = backend_share(route, rule, baseline, candidate)
    weighted = route["spec"]["rules"][rule]
    return Routing(
        share=share,
        mirror=mirror_fraction(weighted, candidate),
        header_match=header_route_match(route, rule, candidate),
    )


@dataclass(frozen=True)
class GatewayAPITraffic(WeightTraffic):
    """Weights on one rule of one HTTPRoute (see the module docstring)."""

    def claimed(self, spec: ModelRolloutSpec) -> frozenset[str]:
        """The HTTPRoute rule the rollout writes."""
        route = spec.traffic.gateway_api
        return (
            frozenset() if route is None else frozenset({f"HTTPRoute {route.http_route} rule {route.rule}"})
        )
