"""Mirror and header route of the routers against a real API server (Gateway API v1.6.3).

The API server validates each write against the standard channel's HTTPRoute schema and CEL
rules (a RequestMirror filter needs a port for a Service, rule names must be DNS names), so a
route the router writes that a gateway would refuse fails here; ``test`` ops are checked by the
server, not by us.
"""

from __future__ import annotations

from typing import Any

import pytest

from rollouts.api.spec import HeaderMatch, HeaderMatchType
from rollouts.local.manifests import http_route, model_deployment
from rollouts.routers.base import RouterError, RouterTarget
from rollouts.routers.gateway_api import GatewayAPIRouter
from rollouts.routers.replicas import ReplicasRouter
from rollouts.runtime.kube import DEPLOYMENTS, HTTP_ROUTES, Kube, KubeObject, PatchType, Resource
from rollouts.traffic.base import Routing
from rollouts.traffic.gateway_api import header_rule_name

pytestmark = [pytest.mark.cluster, pytest.mark.usefixtures("crds")]

CANARY = HeaderMatch(name="x-canary", value="internal")
TEAM = HeaderMatch(name="x-team", value="ml-.*", type=HeaderMatchType.REGULAR_EXPRESSION)


def _router(kube: Kube, namespace: str, **target: Any) -> GatewayAPIRouter:
    return GatewayAPIRouter(
        RouterTarget(kube, namespace, "model-v1", "model-v2", **target), "model", 0, "model-v1", "model-v2"
    )


def _route(kube: Kube, namespace: str) -> KubeObject:
    return kube.get(HTTP_ROUTES, "model", namespace)


def test_the_router_writes_mirror_and_header_route_and_reset_removes_them(kube: Kube, namespace: str) -> None:
    kube.create(HTTP_ROUTES, http_route("model", "model-v1", "model-v2"), namespace)
    router = _router(kube, namespace)

    router.set_mirror(50)
    (mirror,) = _route(kube, namespace)["spec"]["rules"][0]["filters"]
    assert mirror["type"] == "RequestMirror"
    assert mirror["requestMirror"]["percent"] == 50
    assert mirror["requestMirror"]["backendRef"]["name"] == "model-v2"
    assert mirror["requestMirror"]["backendRef"]["port"] == 80

    router.set_header_route((CANARY, TEAM))
    rules = _route(kube, namespace)["spec"]["rules"]
    assert [rule.get("name") for rule in rules] == [None, header_rule_name(0)]
    assert [ref["name"] for ref in rules[1]["backendRefs"]] == ["model-v2"]
    assert rules[1]["matches"][0]["path"] == {"type": "PathPrefix", "value": "/"}
    assert "filters" not in rules[1]  # the mirror stays on the weighted rule alone
    assert router.get_routing() == Routing(share=0.0, mirror=0.5, header_match=(CANARY, TEAM))

    version = _route(kube, namespace)["metadata"]["resourceVersion"]
    router.set_mirror(50)
    router.set_header_route((TEAM, CANARY))  # the same route, listed in another order
    assert _route(kube, namespace)["metadata"]["resourceVersion"] == version

    router.set_weight(25)
    router.set_header_route((CANARY,))
    assert router.get_routing() == Routing(share=0.25, mirror=0.5, header_match=(CANARY,))

    router.reset()
    rules = _route(kube, namespace)["spec"]["rules"]
    assert len(rules) == 1
    assert "filters" not in rules[0]
    assert router.get_routing() == Routing(share=0.0)


def test_a_mirror_keeps_the_filters_someone_else_wrote(kube: Kube, namespace: str) -> None:
    body = http_route("model", "model-v1", "model-v2")
    modifier = {
        "type": "RequestHeaderModifier",
        "requestHeaderModifier": {"set": [{"name": "x-a", "value": "1"}]},
    }
    body["spec"]["rules"][0]["filters"] = [modifier]
    kube.create(HTTP_ROUTES, body, namespace)
    router = _router(kube, namespace)
    router.set_mirror(10)
    router.set_header_route((CANARY,))
    rules = _route(kube, namespace)["spec"]["rules"]
    assert [item["type"] for item in rules[0]["filters"]] == ["RequestHeaderModifier", "RequestMirror"]
    assert [item["type"] for item in rules[1]["filters"]] == ["RequestHeaderModifier"]  # same rewrite
    router.reset()
    assert _route(kube, namespace)["spec"]["rules"][0]["filters"] == [modifier]


@pytest.mark.parametrize("write", ["mirror", "header route"])
def test_an_edit_made_since_the_read_fails_the_test_and_the_router_reads_again(
    kube: Kube, namespace: str, write: str
) -> None:
    stale = kube.create(HTTP_ROUTES, http_route("model", "model-v1", "model-v2"), namespace)
    modifier = {
        "type": "RequestHeaderModifier",
        "requestHeaderModifier": {"set": [{"name": "x-a", "value": "1"}]},
    }
    kube.patch(  # someone else's edit after the cache's read
        HTTP_ROUTES,
        "model",
        [{"op": "add", "path": "/spec/rules/0/filters", "value": [modifier]}],
        PatchType.JSON,
        namespace,
    )
    reads: list[str] = []

    def cached(resource: Resource, name: str) -> KubeObject | None:
        reads.append(name)
        return stale  # the cache lags: the route as it was before the edit

    router = _router(kube, namespace, read=cached)
    if write == "mirror":
        router.set_mirror(30)
    else:
        router.set_header_route((CANARY,))
    rules = _route(kube, namespace)["spec"]["rules"]
    assert rules[0]["filters"][0] == modifier  # the other edit is kept, not overwritten
    assert reads == ["model"]  # the retry read live, not the cache
    assert _router(kube, namespace).get_routing() == Routing(
        share=0.0,
        mirror=0.3 if write == "mirror" else 0.0,
        header_match=() if write == "mirror" else (CANARY,),
    )


def test_a_header_rule_already_written_is_not_appended_again_from_a_cache_that_lags(
    kube: Kube, namespace: str
) -> None:
    """The failure seen in CI: two reconciles in a row, the second reading the route from a cache
    that had not yet seen the first one's header rule, appended the same rule a second time."""
    stale = kube.create(HTTP_ROUTES, http_route("model", "model-v1", "model-v2"), namespace)
    _router(kube, namespace).set_header_route((CANARY,))  # the first reconcile's write
    router = _router(kube, namespace, read=lambda resource, name: stale)  # the second's lagging cache
    router.set_header_route((CANARY,))
    rules = _route(kube, namespace)["spec"]["rules"]
    assert [rule.get("name") for rule in rules] == [None, header_rule_name(0)]
    _router(kube, namespace).set_header_route(())
    assert [rule.get("name") for rule in _route(kube, namespace)["spec"]["rules"]] == [None]


def test_a_header_rule_the_router_did_not_write_is_refused(kube: Kube, namespace: str) -> None:
    body = http_route("model", "model-v1", "model-v2")
    body["spec"]["rules"].append(
        {"name": header_rule_name(0), "backendRefs": [{"name": "model-v1", "port": 80}]}
    )
    kube.create(HTTP_ROUTES, body, namespace)
    with pytest.raises(RouterError, match="not model-v2 alone"):
        _router(kube, namespace).get_routing()


def test_mirror_fraction_and_percent_written_by_hand_read_as_the_share_mirrored(
    kube: Kube, namespace: str
) -> None:
    body = http_route("model", "model-v1", "model-v2")
    mirror = {"backendRef": {"name": "model-v2", "port": 80}, "fraction": {"numerator": 1, "denominator": 4}}
    body["spec"]["rules"][0]["filters"] = [{"type": "RequestMirror", "requestMirror": mirror}]
    kube.create(HTTP_ROUTES, body, namespace)
    router = _router(kube, namespace)
    assert router.get_routing().mirror == 0.25
    router.set_mirror(25)  # the router's own form replaces the hand-written one
    (written,) = _route(kube, namespace)["spec"]["rules"][0]["filters"]
    assert written["requestMirror"] == {
        "backendRef": {"group": "", "kind": "Service", "name": "model-v2", "port": 80},
        "percent": 25,
    }


def test_the_replicas_router_refuses_mirror_and_header_route_and_accepts_none(
    kube: Kube, namespace: str
) -> None:
    kube.create(DEPLOYMENTS, model_deployment("model-v1", "v1", replicas=1), namespace)
    kube.create(DEPLOYMENTS, model_deployment("model-v2", "v2", replicas=0), namespace)
    router = ReplicasRouter(RouterTarget(kube, namespace, "model-v1", "model-v2"))
    with pytest.raises(RouterError, match="cannot mirror"):
        router.set_mirror(50)
    with pytest.raises(RouterError, match="cannot route by header"):
        router.set_header_route((CANARY,))
    router.set_mirror(0)
    router.set_header_route(())
    assert router.get_routing() == Routing(share=0.0)
