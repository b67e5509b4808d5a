"""The Istio traffic model: two destinations of one http route of a VirtualService.

:func:`istio_routing` is the one definition of what a VirtualService does with a request, used
by the router (what it reports), the test bed's load generator (where it sends requests) and the
tests. Istio's rules, as istio.io/api v1.32 documents them (HTTPRouteDestination.weight): a
destination receives ``weight / (sum of all weights)`` of the route's requests; a route with a
single destination sends it everything whatever its weight (never the case here: both are
listed); a missing weight is 0. Weights no
longer have to sum to 100, but the router writes ``100 − w`` and ``w`` so that they do — what
older Istio releases and people reading the route expect.

A destination is matched by ``host``, ``subset`` (absent matches only absent) and, when the
rollout names one, ``port.number``. Three things are read from the route:

- **share**: the candidate's weight over the route's weights;
- **mirror**: the route's ``mirror`` + ``mirrorPercentage.value`` (absent: 100%, as Istio reads
  it), counted only when the mirror is the candidate's destination. The older ``mirrors`` list
  is not written: one ``mirror`` is what a rollout needs and what the v1.32 docs show first;
- **header route**: an http route named ``<route>-canary-header`` (:func:`header_route_name`)
  that sends to the candidate, placed by the router immediately *before* the weighted route
  (Istio tries routes in order, so it must come first to catch its requests). Its headers are
  read back as :class:`~rollouts.api.spec.HeaderMatch` values (``exact`` / ``regex``).

Why header routes need the weighted route picked by name: inserting a route before it shifts its
index, so a rollout that picked it by index would lose it — lint and the API server refuse
``setHeaderRoute`` with ``routeIndex``.

Example: ``http: [{name: primary, route: [{destination: {host: m, subset: v1}, weight: 90},
{destination: {host: m, subset: v2}, weight: 10}]}]`` gives the candidate (subset v2) 10%.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from rollouts.api.spec import HeaderMatch, HeaderMatchType, IstioDestination, ModelRolloutSpec
from rollouts.traffic.base import RouterError, Routing, WeightTraffic

HEADER_ROUTE_SUFFIX = "-canary-header"
ISTIO_MATCH_KEYS = {HeaderMatchType.EXACT: "exact", HeaderMatchType.REGULAR_EXPRESSION: "regex"}
"""How each header match type is written in an Istio StringMatch."""


def header_route_name(route: str) -> str:
    """The name of the header route placed before the weighted route ``route``."""
    return f"{route}{HEADER_ROUTE_SUFFIX}"


def vs_name(virtual_service: Mapping[str, Any]) -> str:
    """The VirtualService's name, for messages."""
    return str(virtual_service.get("metadata", {}).get("name", "<unnamed>"))


def http_routes(virtual_service: Mapping[str, Any]) -> list[dict[str, Any]]:
    """``spec.http`` of the VirtualService (empty when it has none)."""
    routes: list[dict[str, Any]] = virtual_service.get("spec", {}).get("http") or []
    return routes


def route_index(virtual_service: Mapping[str, Any], selector: str | int) -> int:
    """The index of the http route ``selector`` picks (a name or an index); RouterError if none."""
    routes = http_routes(virtual_service)
    if isinstance(selector, int):
        if not 0 <= selector < len(routes):
            raise RouterError(
                f"VirtualService {vs_name(virtual_service)} has {len(routes)} http route(s); "
                f"there is no route {selector}"
            )
        return selector
    names = [route.get("name") for route in routes]
    if names.count(selector) != 1:
        how = "no" if selector not in names else "more than one"
        raise RouterError(
            f"VirtualService {vs_name(virtual_service)} has {how} http route named {selector} "
            f"(it has: {', '.join(str(name) for name in names)})"
        )
    return names.index(selector)


def matches(destination: Mapping[str, Any], wanted: IstioDestination) -> bool:
    """Whether a route's ``destination`` is the one ``wanted`` names."""
    port = (destination.get("port") or {}).get("number")
    return (
        destination.get("host") == wanted.host
        and destination.get("subset") == wanted.subset
        and (wanted.port is None or port == wanted.port)
    )


def describe(wanted: IstioDestination) -> str:
    """``host``, ``host subset s`` or ``host subset s port p``, as messages name a destination."""
    subset = f" subset {wanted.subset}" if wanted.subset else ""
    port = f" port {wanted.port}" if wanted.port else ""
    return f"{wanted.host}{subset}{port}"


def destination_indexes(
    virtual_service: Mapping[str, Any], index: int, wanted: IstioDestination
) -> list[int]:
    """Where ``wanted`` sits in route ``index``'s destinations (every place it is listed)."""
    route = http_routes(virtual_service)[index].get("route") or []
    return [
        position for position, entry in enumerate(route) if matches(entry.get("destination") or {}, wanted)
    ]


def _share(
    virtual_service: Mapping[str, Any], index: int, baseline: IstioDestination, candidate: IstioDestination
) -> float:
    name = vs_name(virtual_service)
    destinations: list[dict[str, Any]] = http_routes(virtual_service)[index].get("route") or []
    missing = [
        describe(wanted)
        for wanted in (baseline, candidate)
        if not destination_indexes(virtual_service, index, wanted)
    ]
    if missing:
        listed = ", ".join(
            describe(IstioDestination.model_validate(_destination_fields(entry))) for entry in destinations
        )
        raise RouterError(
            f"http route {index} of VirtualService {name} has no destination {', '.join(missing)} "
            f"(it has: {listed or 'none'}); list both, the candidate with weight 0"
        )
    weights = [int(entry.get("weight") or 0) for entry in destinations]
    if sum(weights) == 0:
        raise RouterError(f"http route {index} of VirtualService {name} weighs every destination 0")
    at = destination_indexes(virtual_service, index, candidate)
    return sum(weights[position] for position in at) / sum(weights)


def _destination_fields(entry: Mapping[str, Any]) -> dict[str, Any]:
    destination = entry.get("destination") or {}
    return {
        "host": destination.get("host", "<no host>"),
        "subset": destination.get("subset"),
        "port": (destination.get("port") or {}).get("number"),
    }


def _mirror(route: Mapping[str, Any], candidate: IstioDestination) -> float:
    mirror = route.get("mirror")
    if not mirror or not matches(mirror, candidate):
        return 0.0
    percentage = route.get("mirrorPercentage")
    return 1.0 if percentage is None else float(percentage.get("value") or 0.0) / 100


def header_matches(route: Mapping[str, Any]) -> tuple[HeaderMatch, ...]:
    """The header conditions of a header route (its first match block), as HeaderMatch values."""
    blocks = route.get("match") or [{}]
    found = []
    for header, condition in sorted((blocks[0].get("headers") or {}).items()):
        for kind, key in ISTIO_MATCH_KEYS.items():
            if key in condition:
                found.append(HeaderMatch(name=header, value=condition[key], type=kind))
    return tuple(found)


def header_route_index(virtual_service: Mapping[str, Any], selector: str | int) -> int | None:
    """The index of the header route in front of the weighted route, or None when it has none."""
    if isinstance(selector, int):
        return None
    names = [route.get("name") for route in http_routes(virtual_service)]
    wanted = header_route_name(selector)
    return names.index(wanted) if wanted in names else None


def istio_routing(
    virtual_service: Mapping[str, Any],
    selector: str | int,
    baseline: IstioDestination,
    candidate: IstioDestination,
) -> Routing:
    """What the VirtualService does with the requests of route ``selector`` (name or index).

    :class:`RouterError` when the route or either destination is missing, or every weight is 0.

    >>> def dest(subset, weight): return {"destination": {"host": "m", "subset": subset}, "weight": weight}
    >>> mirror = {"mirror": {"host": "m", "subset": "v2"}, "mirrorPercentage": {"value": 10.0}}
    >>> vs = {"spec": {"http": [{"name": "primary", "route": [dest("v1", 75), dest("v2", 25)], **mirror}]}}
    >>> v1, v2 = IstioDestination(host="m", subset="v1"), IstioDestination(host="m", subset="v2")
    >>> istio_routing(vs, "primary", v1, v2)
    Routing(share=0.25, mirror=0.1, header_match=())
    >>> istio_routing(vs, 0, v1, v2).share
    0.25
    """
    if baseline == candidate:
        raise RouterError(f"baseline and candidate are the same destination: {describe(baseline)}")
    index = route_index(virtual_service, selector)
    header = header_route_index(virtual_service, selector)
    routes = http_routes(virtual_service)
    return Routing(
        share=_share(virtual_service, index, baseline, candidate),
        mirror=_mirror(routes[index], candidate),
        header_match=() if header is None else header_matches(routes[header]),
    )


@dataclass(frozen=True)
class IstioTraffic(WeightTraffic):
    """Weights on one http route of one VirtualService (see the module docstring)."""

    def claimed(self, spec: ModelRolloutSpec) -> frozenset[str]:
        """The http route the rollout writes, named as the rollout picks it."""
        istio = spec.traffic.istio
        if istio is None:
            return frozenset()
        route = f"route {istio.route}" if istio.route is not None else f"route #{istio.route_index}"
        return frozenset({f"VirtualService {istio.virtual_service} {route}"})
