"""The Istio traffic model (the share rule shared with the load generator) and the spec's rules."""

from __future__ import annotations

from typing import Any

import pytest

from rollouts.api.lint import lint_object
from rollouts.api.spec import HeaderMatch, HeaderMatchType, IstioDestination, ModelRolloutSpec
from rollouts.controller.core.claims import Claimant, claimed_objects, conflict
from rollouts.traffic.base import RouterError, Routing
from rollouts.traffic.istio import istio_routing
from tests.cases.istio import HEADER_STEP, REFUSED, Refused, istio_rollout

V1 = IstioDestination(host="m", subset="v1")
V2 = IstioDestination(host="m", subset="v2")


def _entry(
    subset: str | None, weight: int | None, host: str = "m", port: int | None = None
) -> dict[str, Any]:
    destination: dict[str, Any] = {"host": host}
    if subset is not None:
        destination["subset"] = subset
    if port is not None:
        destination["port"] = {"number": port}
    return {"destination": destination} if weight is None else {"destination": destination, "weight": weight}


def _vs(*routes: dict[str, Any]) -> dict[str, Any]:
    return {"metadata": {"name": "vs"}, "spec": {"http": list(routes)}}


def _route(*entries: dict[str, Any], name: str = "primary", **fields: Any) -> dict[str, Any]:
    return {"name": name, "route": list(entries), **fields}


# --- the share rule ----------------------------------------------------------------------------


def test_the_share_is_the_candidates_weight_over_all_weights_by_name_or_index() -> None:
    vs = _vs(_route(_entry("x", 0, host="other"), name="first"), _route(_entry("v1", 60), _entry("v2", 20)))
    assert istio_routing(vs, "primary", V1, V2) == Routing(share=0.25)
    assert istio_routing(vs, 1, V1, V2) == Routing(share=0.25)


def test_a_missing_weight_counts_0_and_a_third_destination_counts_in_the_sum() -> None:
    assert istio_routing(_vs(_route(_entry("v1", 100), _entry("v2", None))), 0, V1, V2).share == 0.0
    third = _vs(_route(_entry("v1", 50), _entry("v2", 25), _entry(None, 25, host="legacy")))
    assert istio_routing(third, 0, V1, V2).share == 0.25


def test_a_destination_matches_by_host_subset_and_the_port_only_when_named() -> None:
    vs = _vs(_route(_entry("v1", 70, port=8080), _entry("v2", 30, port=8080)))
    assert istio_routing(vs, 0, V1, V2).share == 0.3
    on_80 = IstioDestination(host="m", subset="v2", port=80)
    with pytest.raises(RouterError, match="has no destination m subset v2 port 80"):
        istio_routing(vs, 0, V1, on_80)
    by_host = _vs(_route(_entry(None, 90, host="m-v1"), _entry(None, 10, host="m-v2")))
    assert (
        istio_routing(by_host, 0, IstioDestination(host="m-v1"), IstioDestination(host="m-v2")).share == 0.1
    )


def test_mirror_counts_only_towards_the_candidate_and_an_absent_percentage_is_all() -> None:
    weights = (_entry("v1", 100), _entry("v2", 0))
    to_candidate = _route(*weights, mirror={"host": "m", "subset": "v2"})
    assert istio_routing(_vs(to_candidate), 0, V1, V2).mirror == 1.0
    to_candidate["mirrorPercentage"] = {"value": 12.5}
    assert istio_routing(_vs(to_candidate), 0, V1, V2).mirror == 0.125
    elsewhere = _route(*weights, mirror={"host": "shadow"}, mirrorPercentage={"value": 50.0})
    assert istio_routing(_vs(elsewhere), 0, V1, V2).mirror == 0.0


def test_the_header_route_in_front_is_read_back_as_header_matches() -> None:
    header = _route(
        _entry("v2", 100),
        name="primary-canary-header",
        match=[{"headers": {"x-canary": {"exact": "yes"}, "x-user": {"regex": "^t"}}}],
    )
    vs = _vs(header, _route(_entry("v1", 100), _entry("v2", 0)))
    assert istio_routing(vs, "primary", V1, V2).header_match == (
        HeaderMatch(name="x-canary", value="yes"),
        HeaderMatch(name="x-user", value="^t", type=HeaderMatchType.REGULAR_EXPRESSION),
    )
    assert istio_routing(vs, 1, V1, V2).header_match == ()  # by index the router never makes one


@pytest.mark.parametrize(
    ("vs", "selector", "message"),
    [
        (_vs(_route(_entry("v1", 100), _entry("v2", 0))), 3, "VirtualService vs has 1 http route"),
        (_vs(_route(_entry("v1", 100), _entry("v2", 0))), "main", "has no http route named main"),
        (
            _vs(_route(_entry("v1", 1), _entry("v2", 0)), _route(_entry("v1", 1), _entry("v2", 0))),
            "primary",
            "has more than one http route named primary",
        ),
        (_vs(_route(_entry("v1", 100))), 0, "has no destination m subset v2 .*list both"),
        (_vs(_route(_entry("v1", 0), _entry("v2", 0))), 0, "weighs every destination 0"),
    ],
)
def test_routes_the_model_cannot_read_are_errors_naming_them(
    vs: dict[str, Any], selector: str | int, message: str
) -> None:
    with pytest.raises(RouterError, match=message):
        istio_routing(vs, selector, V1, V2)


# --- the spec ----------------------------------------------------------------------------------


def test_an_istio_rollout_lints_clean_and_claims_its_route() -> None:
    rollout, problems = lint_object(istio_rollout(steps=[HEADER_STEP, {"setWeight": 10}]))
    assert rollout is not None, problems
    assert claimed_objects(rollout.spec) >= {"VirtualService fraud-scorer route primary"}
    by_index = ModelRolloutSpec.model_validate(istio_rollout(route=None, routeIndex=2)["spec"])
    assert "VirtualService fraud-scorer route #2" in claimed_objects(by_index)


@pytest.mark.parametrize("case", REFUSED, ids=lambda case: case.name)
def test_lint_refuses_istio_specs_at_their_field_with_a_hint(case: Refused) -> None:
    rollout, problems = lint_object(case.rollout)
    assert rollout is None
    errors = [problem for problem in problems if problem.severity == "error"]
    assert any(p.path == case.path and case.message in p.message and p.hint for p in errors), [
        (p.path, p.message) for p in errors
    ]


def test_two_rollouts_writing_one_route_conflict_and_two_routes_of_one_virtual_service_do_not() -> None:
    def claimant(name: str, created: str, route: str, deployments: tuple[str, str]) -> Claimant:
        rollout = istio_rollout(name=name, route=route)
        spec = rollout["spec"]
        spec["baseline"]["deployment"], spec["candidate"]["deployment"] = deployments
        objects = claimed_objects(ModelRolloutSpec.model_validate(spec))
        return Claimant(name=name, created=created, objects=objects, active=True)

    first = claimant("a", "2026-12-01T00:00:00Z", "primary", ("a-v1", "a-v2"))
    same_route = claimant("b", "2026-12-01T00:05:00Z", "primary", ("b-v1", "b-v2"))
    other_route = claimant("c", "2026-12-01T00:05:00Z", "batch", ("c-v1", "c-v2"))
    assert conflict(same_route, [first, same_route]) == (
        "VirtualService fraud-scorer route primary belongs to ModelRollout a (created earlier); this "
        "rollout touches nothing until that one ends or stops naming it"
    )
    assert conflict(other_route, [first, other_route]) is None
