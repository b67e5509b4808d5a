"""The Istio router: the weights of two destinations in one http route of a VirtualService.

What the route does with requests is :func:`rollouts.traffic.istio.istio_routing` — the one
definition, also used by the test bed's load generator. The router writes ``100 − w`` on the
baseline's destination and ``w`` on the candidate's, so the share is exactly ``w / 100``, and
touches nothing else in the route. A route that also sends traffic to a third destination, or
lists one of the two twice, is refused (a ``RouterError`` the rollout's condition names): the
router could not make the share what the rollout asks for.

Mirror: ``mirror`` (the candidate's destination, as the route names it) and
``mirrorPercentage.value`` on the weighted route; 0 removes both. A route that already mirrors
to something else is refused rather than overwritten.

Header route: a copy of the weighted route named ``<route>-canary-header``, its match blocks
each also requiring the headers (names lower-cased, as Istio requires), sending everything to
the candidate; inserted immediately before the weighted route (Istio takes the first route that
matches). It needs the weighted route picked by name (see rollouts.traffic.istio).

DestinationRules are not read: a subset may be defined in the host's namespace or the mesh's
root namespace and exported, so a check from the rollout's namespace would refuse working
setups and need a read grant on every namespace. A subset that no DestinationRule defines
shows up as 503s from the candidate, which the analysis rolls back on.

Reads come from the target's reader (the controller's VirtualService cache). Writes are JSON
patches that first ``test`` what was read — the route's name (when picked by name), the two
destinations' hosts and subsets at their indexes, and their current weights — so an edit made
by someone else since is detected by the API server instead of overwritten; the router then
reads the VirtualService live and tries again, a few times.

Example: route ``primary`` (index 0) has ``[{destination: {host: m, subset: v1}, weight: 90},
{destination: {host: m, subset: v2}, weight: 10}]``; ``set_weight(25)`` sends::

    [{"op": "test", "path": "/spec/http/0/name", "value": "primary"},
     {"op": "test", "path": "/spec/http/0/route/0/destination/host", "value": "m"},
     {"op": "test", "path": "/spec/http/0/route/0/destination/subset", "value": "v1"},
     {"op": "test", "path": "/spec/http/0/route/0/weight", "value": 90},
     {"op": "test", "path": "/spec/http/0/route/1/destination/host", "value": "m"},
     {"op": "test", "path": "/spec/http/0/route/1/destination/subset", "value": "v2"},
     {"op": "test", "path": "/spec/http/0/route/1/weight", "value": 10},
     {"op": "add", "path": "/spec/http/0/route/0/weight", "value": 75},
     {"op": "add", "path": "/spec/http/0/route/1/weight", "value": 25}]
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from rollouts.api.spec import HeaderMatch, IstioDestination, Traffic
from rollouts.routers.base import JsonPatch, RouterError, RouterTarget, Routing, patch_as_read
from rollouts.runtime.kube import VIRTUAL_SERVICES, KubeObject
from rollouts.traffic.istio import (
    ISTIO_MATCH_KEYS,
    describe,
    destination_indexes,
    header_route_index,
    header_route_name,
    http_routes,
    istio_routing,
    matches,
    route_index,
    vs_name,
)

MIRROR_FIELDS = ("mirror", "mirrorPercentage")


@dataclass(frozen=True)
class _Place:
    """Where the weighted route and its two destinations sit, as read."""

    route: int
    baseline: int
    candidate: int
    entries: tuple[dict[str, Any], ...]
    """The route's destinations (``{destination, weight}``) as read."""


def _place(
    vs: KubeObject, selector: str | int, baseline: IstioDestination, candidate: IstioDestination
) -> _Place:
    """The route and destinations to write; RouterError when no write can give the asked share."""
    istio_routing(vs, selector, baseline, candidate)  # the route and both destinations exist
    index = route_index(vs, selector)
    where = f"http route {selector} of VirtualService {vs_name(vs)}"
    found = {wanted: destination_indexes(vs, index, wanted) for wanted in (baseline, candidate)}
    twice = [describe(wanted) for wanted, at in found.items() if len(at) > 1]
    if twice:
        raise RouterError(f"{where} lists {', '.join(twice)} more than once")
    entries: list[dict[str, Any]] = http_routes(vs)[index].get("route") or []
    ours = (found[baseline][0], found[candidate][0])
    if any(entry.get("weight") for position, entry in enumerate(entries) if position not in ours):
        raise RouterError(
            f"{where} also sends traffic to other destinations; set their weight to 0 or move them to "
            "another route"
        )
    return _Place(index, ours[0], ours[1], tuple(entries))


@dataclass(frozen=True)
class IstioRouter:
    """Weights, mirror and header route on one http route of one VirtualService (module docstring)."""

    target: RouterTarget
    virtual_service: str
    selector: str | int
    baseline: IstioDestination
    candidate: IstioDestination

    @classmethod
    def create(cls, traffic: Traffic, target: RouterTarget) -> IstioRouter:
        """Build from ``spec.traffic.istio`` (the Deployment names are not needed here)."""
        spec = traffic.istio
        if spec is None:
            raise RouterError("spec.traffic.istio is not set")
        return cls(target, spec.virtual_service, spec.selector, spec.baseline, spec.candidate)

    def _read(self) -> KubeObject:
        target = self.target
        vs = target.get(VIRTUAL_SERVICES, self.virtual_service)
        if vs is None:
            raise RouterError(f"VirtualService {target.namespace}/{self.virtual_service} not found")
        return vs

    def _place(self, vs: KubeObject) -> _Place:
        return _place(vs, self.selector, self.baseline, self.candidate)

    def get_routing(self) -> Routing:
        """What the route does now.

        A route this router cannot write is an error here too, so status names the problem
        instead of a share that never moves.
        """
        vs = self._read()
        self._place(vs)
        return istio_routing(vs, self.selector, self.baseline, self.candidate)

    def get_weight(self) -> float:
        """The candidate's configured share of the route's traffic."""
        return self.get_routing().share

    def set_weight(self, weight: int) -> None:
        """Write ``100 − weight`` and ``weight``; a no-op when already there."""

        def build(vs: KubeObject, place: _Place) -> JsonPatch:
            base = f"/spec/http/{place.route}/route"
            if (
                place.entries[place.baseline].get("weight"),
                place.entries[place.candidate].get("weight"),
            ) == (
                100 - weight,
                weight,
            ):
                return []
            return [
                {"op": "add", "path": f"{base}/{place.baseline}/weight", "value": 100 - weight},
                {"op": "add", "path": f"{base}/{place.candidate}/weight", "value": weight},
            ]

        self._write(build)

    def set_mirror(self, percent: int) -> None:
        """Mirror ``percent`` of the route's requests to the candidate; 0 removes the mirror."""

        def build(vs: KubeObject, place: _Place) -> JsonPatch:
            route = http_routes(vs)[place.route]
            path = f"/spec/http/{place.route}"
            mirror = route.get("mirror")
            if mirror is not None and not matches(mirror, self.candidate):
                raise RouterError(
                    f"http route {self.selector} of VirtualService {vs_name(vs)} already mirrors to "
                    f"{mirror.get('host')}; remove that mirror to mirror to the candidate"
                )
            tests = [
                {"op": "test", "path": f"{path}/{key}", "value": route[key]}
                for key in MIRROR_FIELDS
                if key in route
            ]
            if not percent:
                return tests + [
                    {"op": "remove", "path": f"{path}/{key}"} for key in MIRROR_FIELDS if key in route
                ]
            wanted = {
                "mirror": place.entries[place.candidate]["destination"],
                "mirrorPercentage": {"value": float(percent)},
            }
            if all(route.get(key) == value for key, value in wanted.items()):
                return []
            return tests + [
                {"op": "add", "path": f"{path}/{key}", "value": value} for key, value in wanted.items()
            ]

        self._write(build)

    def set_header_route(self, match: tuple[HeaderMatch, ...]) -> None:
        """Requests matching ``match`` go to the candidate (a route in front); () removes it."""
        if not isinstance(self.selector, str):
            if match:
                raise RouterError(
                    "a header route needs the weighted route picked by name (spec.traffic.istio.route): "
                    "the route it inserts in front would shift the index"
                )
            return  # picked by index: the router never made a header route

        name = self.selector

        def build(vs: KubeObject, place: _Place) -> JsonPatch:
            at = header_route_index(vs, name)
            if at is not None and at != place.route - 1:
                raise RouterError(
                    f"VirtualService {vs_name(vs)}: http route {header_route_name(name)} must come right "
                    f"before route {name}; move it back or delete it"
                )
            header_path = f"/spec/http/{at}"
            ours = (
                []
                if at is None
                else [{"op": "test", "path": f"{header_path}/name", "value": header_route_name(name)}]
            )
            if not match:
                return [] if at is None else [*ours, {"op": "remove", "path": header_path}]
            wanted = self._header_route(http_routes(vs)[place.route], place, match)
            if at is None:
                return [{"op": "add", "path": f"/spec/http/{place.route}", "value": wanted}]
            if http_routes(vs)[at] == wanted:
                return []
            return [*ours, {"op": "replace", "path": header_path, "value": wanted}]

        self._write(build)

    def _header_route(
        self, weighted: dict[str, Any], place: _Place, match: tuple[HeaderMatch, ...]
    ) -> dict[str, Any]:
        """A copy of the weighted route that also requires the headers and sends to the candidate."""
        headers = {header.name.lower(): {ISTIO_MATCH_KEYS[header.type]: header.value} for header in match}
        kept = {
            key: value
            for key, value in weighted.items()
            if key not in ("name", "match", "route", *MIRROR_FIELDS)
        }
        blocks = weighted.get("match") or [{}]
        return {
            **kept,
            "name": header_route_name(str(self.selector)),
            "match": [{**block, "headers": {**(block.get("headers") or {}), **headers}} for block in blocks],
            "route": [{"destination": place.entries[place.candidate]["destination"], "weight": 100}],
        }

    def reset(self) -> None:
        """All traffic to the baseline, no mirror, no header route."""
        self.set_weight(0)
        self.set_mirror(0)
        self.set_header_route(())

    def _write(self, build: Callable[[KubeObject, _Place], JsonPatch]) -> None:
        """Send ``build``'s change behind ``test`` ops on what it was built from (base.patch_as_read)."""

        def guarded(vs: KubeObject) -> JsonPatch:
            place = self._place(vs)
            change = build(vs, place)
            return self._tests(place) + change if change else []

        patch_as_read(self.target, VIRTUAL_SERVICES, self.virtual_service, guarded)

    def _tests(self, place: _Place) -> JsonPatch:
        """``test`` ops on what the write relies on: the route's name, both destinations, their weights."""
        path = f"/spec/http/{place.route}"
        tests: JsonPatch = []
        if isinstance(self.selector, str):
            tests.append({"op": "test", "path": f"{path}/name", "value": self.selector})
        for position in (place.baseline, place.candidate):
            entry = place.entries[position]
            destination = entry["destination"]
            at = f"{path}/route/{position}"
            tests.append({"op": "test", "path": f"{at}/destination/host", "value": destination["host"]})
            if "subset" in destination:
                tests.append(
                    {"op": "test", "path": f"{at}/destination/subset", "value": destination["subset"]}
                )
            if "weight" in entry:
                tests.append({"op": "test", "path": f"{at}/weight", "value": entry["weight"]})
        return tests
