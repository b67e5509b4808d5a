"""The Istio router against a real API server with Istio's VirtualService CRD (istio.io/api v1.32).

The API server validates each write against Istio's own schema, so a patch that Istio would not
accept fails here too; ``test`` ops are checked by the server, not by us.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes.client import ApiClient, CustomObjectsApi
from kubernetes.client.exceptions import ApiException

from rollouts.api.resource import GROUP, PLURAL, VERSION, ModelRollout
from rollouts.api.spec import HeaderMatch, HeaderMatchType, IstioDestination
from rollouts.controller.shell.resources import MODEL_ROLLOUTS
from rollouts.local.manifests import ISTIO_ROUTE, model_deployment, virtual_service
from rollouts.routers.base import RouterError, RouterTarget
from rollouts.routers.istio import IstioRouter
from rollouts.routers.registry import router_for
from rollouts.runtime.kube import DEPLOYMENTS, DESTINATION_RULES, VIRTUAL_SERVICES, Kube, KubeObject, Resource
from rollouts.testbed import LocalCluster
from rollouts.testbed.crds import install_crds
from rollouts.traffic.base import Routing
from rollouts.traffic.istio import header_route_name, istio_routing
from tests.cases.istio import REFUSED, Refused
from tests.integration.test_hostile_specs_apiserver import names, refused_fields
from tests.support.controller import running_controller, wait_for
from tests.support.workloads import model_rollout

pytestmark = [pytest.mark.cluster, pytest.mark.usefixtures("crds", "istio_crds")]

EXAMPLE = Path(__file__).parents[2] / "examples" / "istio"
V1 = IstioDestination(host="model", subset="v1")
V2 = IstioDestination(host="model", subset="v2")


@pytest.fixture(scope="module")
def istio_crds(api_client: ApiClient) -> list[str]:
    return install_crds(api_client, modelrollout=False, gateway_api=False, istio=True)


def _router(kube: Kube, namespace: str, selector: str | int = ISTIO_ROUTE, **target: Any) -> IstioRouter:
    return IstioRouter(
        RouterTarget(kube, namespace, "model-v1", "model-v2", **target), "model", selector, V1, V2
    )


def _vs(kube: Kube, namespace: str) -> KubeObject:
    return kube.get(VIRTUAL_SERVICES, "model", namespace)


def _weights(kube: Kube, namespace: str, route: int = 0) -> list[tuple[str, int]]:
    entries = _vs(kube, namespace)["spec"]["http"][route]["route"]
    return [(entry["destination"]["subset"], entry.get("weight", 0)) for entry in entries]


def test_the_router_writes_weights_mirror_and_header_route_and_reset_removes_them(
    kube: Kube, namespace: str
) -> None:
    body = virtual_service("model", "model", "v1", "v2")
    body["spec"]["http"][0]["match"] = [{"uri": {"prefix": "/predict"}}]
    body["spec"]["http"].append({"name": "rest", "route": [{"destination": {"host": "other"}}]})
    kube.create(VIRTUAL_SERVICES, body, namespace)
    router = _router(kube, namespace)
    assert router.get_routing() == Routing(share=0.0)

    router.set_weight(25)
    router.set_mirror(10)
    canary = (
        HeaderMatch(name="X-Canary", value="yes"),
        HeaderMatch(name="x-user", value="^t.*", type=HeaderMatchType.REGULAR_EXPRESSION),
    )
    router.set_header_route(canary)
    router.set_header_route(canary)  # idempotent: no second route

    http = _vs(kube, namespace)["spec"]["http"]
    assert [route.get("name") for route in http] == ["primary-canary-header", "primary", "rest"]
    assert http[0]["match"] == [
        {
            "uri": {"prefix": "/predict"},
            "headers": {"x-canary": {"exact": "yes"}, "x-user": {"regex": "^t.*"}},
        }
    ]
    assert http[0]["route"] == [{"destination": {"host": "model", "subset": "v2"}, "weight": 100}]
    assert "mirror" not in http[0]
    assert _weights(kube, namespace, 1) == [("v1", 75), ("v2", 25)]
    assert http[1]["mirror"] == {"host": "model", "subset": "v2"}
    assert http[1]["mirrorPercentage"] == {"value": 10.0}
    routing = istio_routing(_vs(kube, namespace), ISTIO_ROUTE, V1, V2)
    assert (routing.share, routing.mirror) == (0.25, 0.1)
    assert {(match.name, match.type) for match in routing.header_match} == {
        ("x-canary", HeaderMatchType.EXACT),
        ("x-user", HeaderMatchType.REGULAR_EXPRESSION),
    }
    assert router.get_routing() == routing

    router.reset()
    http = _vs(kube, namespace)["spec"]["http"]
    assert [route.get("name") for route in http] == ["primary", "rest"]
    assert _weights(kube, namespace) == [("v1", 100), ("v2", 0)]
    assert "mirror" not in http[0] and "mirrorPercentage" not in http[0]
    assert router.get_routing() == Routing(share=0.0)


def test_a_route_picked_by_index_gets_weights_but_no_header_route(kube: Kube, namespace: str) -> None:
    kube.create(VIRTUAL_SERVICES, virtual_service("model", "model", "v1", "v2"), namespace)
    router = _router(kube, namespace, selector=0)
    router.set_weight(40)
    assert _weights(kube, namespace) == [("v1", 60), ("v2", 40)]
    with pytest.raises(RouterError, match="needs the weighted route picked by name"):
        router.set_header_route((HeaderMatch(name="x-canary", value="1"),))
    router.reset()  # nothing to remove by header: the weights alone
    assert _weights(kube, namespace) == [("v1", 100), ("v2", 0)]


def test_a_concurrent_edit_fails_the_patch_test_and_the_router_retries_on_a_live_read(
    kube: Kube, namespace: str
) -> None:
    kube.create(VIRTUAL_SERVICES, virtual_service("model", "model", "v1", "v2"), namespace)
    stale = _vs(kube, namespace)
    live = _vs(kube, namespace)
    live["spec"]["http"][0]["route"].reverse()  # someone reorders the destinations: v2 first
    kube.replace(VIRTUAL_SERVICES, live)
    reads: list[str] = []

    def cached(resource: Resource, name: str) -> KubeObject:
        reads.append(name)
        return stale  # a cache that has not seen the edit

    router = _router(kube, namespace, read=cached)
    router.set_weight(25)
    # Written by index from the stale read, v1 (now at index 1) would have got 25: the server's
    # test on the destinations refused that patch, and the retry read the route live.
    assert sorted(_weights(kube, namespace)) == [("v1", 75), ("v2", 25)]
    assert reads == ["model"]


def test_a_header_route_already_written_is_not_inserted_again_from_a_cache_that_lags(
    kube: Kube, namespace: str
) -> None:
    """Two reconciles in a row, the second reading a cache without the first one's header route:
    the insert's test on the weighted route's name (now one further down) fails, the retry reads live."""
    stale = kube.create(VIRTUAL_SERVICES, virtual_service("model", "model", "v1", "v2"), namespace)
    canary = HeaderMatch(name="x-canary", value="internal")
    _router(kube, namespace).set_header_route((canary,))
    _router(kube, namespace, read=lambda resource, name: stale).set_header_route((canary,))
    routes = [route.get("name") for route in _vs(kube, namespace)["spec"]["http"]]
    assert routes == [header_route_name(ISTIO_ROUTE), ISTIO_ROUTE]


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (
            lambda route: route["route"].append({"destination": {"host": "legacy"}, "weight": 5}),
            "http route primary of VirtualService model also sends traffic to other destinations",
        ),
        (
            lambda route: route["route"].append(
                {"destination": {"host": "model", "subset": "v2"}, "weight": 0}
            ),
            "http route primary of VirtualService model lists model subset v2 more than once",
        ),
        (
            lambda route: route["route"].pop(),
            "http route 0 of VirtualService model has no destination model subset v2",
        ),
    ],
)
def test_a_route_the_router_does_not_understand_is_refused_naming_the_route(
    testbed: LocalCluster, kube: Kube, namespace: str, edit: Any, message: str
) -> None:
    body = virtual_service("model", "model", "v1", "v2")
    edit(body["spec"]["http"][0])
    kube.create(VIRTUAL_SERVICES, body, namespace)
    with pytest.raises(RouterError, match=message):
        _router(kube, namespace).set_weight(10)
    for deployment in (model_deployment("model-v1", "v1", 1), model_deployment("model-v2", "v2", 0)):
        kube.create(DEPLOYMENTS, deployment, namespace)
    traffic = {
        "istio": {
            "virtualService": "model",
            "route": ISTIO_ROUTE,
            "baseline": V1.to_wire(),
            "candidate": V2.to_wire(),
        }
    }
    kube.create(MODEL_ROLLOUTS, model_rollout("model", steps=[{"setWeight": 10}], traffic=traffic), namespace)
    with running_controller(testbed.kubeconfig, namespace):
        refused = wait_for(
            lambda: kube.get(MODEL_ROLLOUTS, "model", namespace),
            lambda rollout: message in (rollout.get("status") or {}).get("message", ""),
            60,
            "the rollout's status to name the route",
        )
    assert "setting weight 10%: router reports unknown" in refused["status"]["message"]
    assert _vs(kube, namespace)["spec"]["http"][0] == body["spec"]["http"][0]  # untouched


@pytest.mark.parametrize("case", REFUSED, ids=lambda case: case.name)
def test_the_api_server_refuses_istio_specs_at_the_field_lint_names(
    api_client: ApiClient, namespace: str, case: Refused
) -> None:
    with pytest.raises(ApiException) as refused:
        CustomObjectsApi(api_client).create_namespaced_custom_object(
            GROUP, VERSION, namespace, PLURAL, case.rollout, field_validation="Strict"
        )
    reasons = refused_fields(refused.value)
    assert any(names(field, case.path) and case.message in message for field, message in reasons), reasons


def test_the_example_routing_objects_apply_and_the_example_rollout_routes_through_them(
    kube: Kube, namespace: str
) -> None:
    for resource, document in zip(
        (VIRTUAL_SERVICES, DESTINATION_RULES),
        yaml.safe_load_all((EXAMPLE / "virtualservice.yaml").read_text()),
        strict=True,
    ):
        kube.create(resource, {**document, "metadata": {"name": document["metadata"]["name"]}}, namespace)
    spec = ModelRollout.model_validate(yaml.safe_load((EXAMPLE / "rollout.yaml").read_text())).spec
    router = router_for(spec.traffic, RouterTarget(kube, namespace, "fraud-scorer-v1", "fraud-scorer-v2"))
    assert router.get_routing() == Routing(share=0.0)
    router.set_weight(10)
    router.set_mirror(20)
    assert router.get_routing() == Routing(share=0.1, mirror=0.2)
