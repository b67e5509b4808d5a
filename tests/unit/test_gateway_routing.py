"""What an HTTPRoute tells the data plane about the candidate: share, mirror and header route.

:func:`rollouts.traffic.gateway_api.gateway_api_routing` is the one reading, used by the router
(what it reports) and the test bed's load generator (what it does with requests).
"""

from __future__ import annotations

from typing import Any

import pytest

from rollouts.api.spec import HeaderMatch, HeaderMatchType
from rollouts.traffic.base import RouterError, Routing
from rollouts.traffic.gateway_api import gateway_api_routing, header_rule_name

REFS = [{"name": "v1", "port": 80, "weight": 100}, {"name": "v2", "port": 80, "weight": 0}]
CANARY = {"name": "x-canary", "value": "internal"}


def mirror(backend: str, **amount: Any) -> dict[str, Any]:
    return {"type": "RequestMirror", "requestMirror": {"backendRef": {"name": backend, "port": 80}, **amount}}


def route(*rules: dict[str, Any]) -> dict[str, Any]:
    return {"metadata": {"name": "model"}, "spec": {"rules": list(rules)}}


@pytest.mark.parametrize(
    ("filters", "expected"),
    [
        ([], 0.0),
        ([mirror("v2", percent=30)], 0.3),
        ([mirror("v2", fraction={"numerator": 1, "denominator": 3})], 1 / 3),
        ([mirror("v2")], 1.0),  # neither percent nor fraction: every request
        ([mirror("audit", percent=100)], 0.0),  # a mirror to another backend is not the candidate's
        ([{"type": "RequestHeaderModifier", "requestHeaderModifier": {}}, mirror("v2", percent=5)], 0.05),
    ],
)
def test_the_mirror_is_the_request_mirror_filter_to_the_candidate(
    filters: list[dict[str, Any]], expected: float
) -> None:
    routing = gateway_api_routing(route({"backendRefs": REFS, "filters": filters}), 0, "v1", "v2")
    assert routing.mirror == pytest.approx(expected)


def test_the_header_route_is_the_owned_rule_minus_the_weighted_rules_own_headers() -> None:
    tenant = {"name": "x-tenant", "value": "a"}
    weighted = {
        "matches": [{"path": {"type": "PathPrefix", "value": "/"}, "headers": [tenant]}],
        "backendRefs": REFS,
    }
    owned = {
        "name": header_rule_name(0),
        "matches": [{"path": {"type": "PathPrefix", "value": "/"}, "headers": [tenant, CANARY]}],
        "backendRefs": [{"name": "v2", "port": 80, "weight": 1}],
    }
    assert gateway_api_routing(route(weighted, owned), 0, "v1", "v2") == Routing(
        share=0.0, header_match=(HeaderMatch(name="x-canary", value="internal", type=HeaderMatchType.EXACT),)
    )
    other_rule = {"name": header_rule_name(1), "backendRefs": [{"name": "v2"}]}  # rule 1's, not ours
    assert gateway_api_routing(route(weighted, other_rule), 0, "v1", "v2").header_match == ()


def test_an_owned_rule_that_sends_elsewhere_is_an_error_not_a_header_route() -> None:
    owned = {"name": header_rule_name(0), "matches": [{"headers": [CANARY]}], "backendRefs": [{"name": "v1"}]}
    with pytest.raises(RouterError, match="not v2 alone"):
        gateway_api_routing(route({"backendRefs": REFS}, owned), 0, "v1", "v2")
