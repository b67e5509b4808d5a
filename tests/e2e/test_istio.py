"""End to end on an Istio VirtualService: the stack of tests/e2e/test_rollouts.py, with the load
generator honouring the VirtualService's route (rollouts.traffic.istio) as Envoy would.

Istio's VirtualService and DestinationRule CRDs (istio.io/api v1.32) are on the real API server;
istiod and Envoy are not run: the load generator is the data plane, by the router's own rule.
"""

from __future__ import annotations

from typing import Any

import pytest
from kubernetes.client import ApiClient
from typer.testing import CliRunner

from rollouts.api.spec import HeaderMatch
from rollouts.cli.main import app
from rollouts.local.loadgen import HeaderClient
from rollouts.local.manifests import ISTIO_ROUTE
from rollouts.local.model_server.config import Device, Switches
from rollouts.local.stack import (
    ISTIO_DESTINATIONS,
    ISTIO_TRAFFIC,
    ROUTE,
    LocalStack,
    demo_analysis,
    demo_rollout,
)
from rollouts.routers.base import RouterTarget
from rollouts.routers.istio import IstioRouter
from rollouts.runtime.kube import VIRTUAL_SERVICES, Kube
from rollouts.testbed import LocalCluster
from rollouts.testbed.crds import install_crds
from rollouts.traffic.base import Routing
from rollouts.traffic.istio import istio_routing
from tests.e2e.conftest import StackFactory, header_routed_at_the_gate, wait_for_share
from tests.support.controller import ShareRecorder, phase, wait_for

pytestmark = [pytest.mark.e2e, pytest.mark.slow, pytest.mark.usefixtures("istio_crds")]

IDENTICAL = Switches(error_rate=0.01)


@pytest.fixture(scope="module")
def istio_crds(api_client: ApiClient) -> list[str]:
    return install_crds(api_client, modelrollout=False, gateway_api=False, istio=True)


def _istio_stack(make_stack: StackFactory, candidate: Switches, **options: Any) -> LocalStack:
    return make_stack(candidate=candidate, istio=True, **options)


def _share(vs: dict[str, Any]) -> float:
    return istio_routing(vs, ISTIO_ROUTE, *ISTIO_DESTINATIONS).share


def _mirror(vs: dict[str, Any]) -> float:
    return istio_routing(vs, ISTIO_ROUTE, *ISTIO_DESTINATIONS).mirror


def _ended(stack: LocalStack, timeout: float) -> dict[str, Any]:
    return wait_for(
        stack.rollout, lambda o: phase(o) in ("Succeeded", "RolledBack", "Failed"), timeout, "the end"
    )


def test_good_candidate_walks_the_virtual_service_weights_and_is_promoted(
    make_stack: StackFactory, kube: Kube
) -> None:
    stack = _istio_stack(make_stack, IDENTICAL)
    with ShareRecorder(kube, VIRTUAL_SERVICES, ROUTE, stack.namespace, _share) as recorder:
        stack.create_rollout(demo_rollout(demo_analysis(stack.prometheus_url), traffic=ISTIO_TRAFFIC))
        done = _ended(stack, 300)
        assert phase(done) == "Succeeded", done["status"].get("message")
    assert recorder.weights == [0, 25, 50, 100]
    assert done["status"]["stableVersion"] == "v2"
    assert stack.load is not None and stack.load.counts().sent.get("v2", 0) > 0  # the load followed the route


def test_cpu_fallback_is_rolled_back_and_the_virtual_service_sends_it_nothing(
    make_stack: StackFactory,
) -> None:
    stack = _istio_stack(make_stack, Switches(device=Device.CPU, error_rate=0.01))
    stack.create_rollout(
        demo_rollout(demo_analysis(stack.prometheus_url, ready_query=False), traffic=ISTIO_TRAFFIC)
    )
    done = _ended(stack, 240)
    assert phase(done) == "RolledBack", done["status"].get("message")
    assert done["status"]["weight"] == 0
    assert "latency" in done["status"]["outcome"]["message"]
    wait_for_share(stack, 0.0, "the VirtualService back at 0%")


def test_a_cpu_fallback_is_rolled_back_on_mirrored_requests_before_any_live_traffic(
    make_stack: StackFactory, kube: Kube
) -> None:
    stack = _istio_stack(make_stack, Switches(device=Device.CPU, error_rate=0.01))
    plan = [{"setMirror": 50}, {"analyze": {"duration": "90s"}}, {"setWeight": 25}, {"setWeight": 100}]
    mirror = ShareRecorder(kube, VIRTUAL_SERVICES, ROUTE, stack.namespace, _mirror)
    with ShareRecorder(kube, VIRTUAL_SERVICES, ROUTE, stack.namespace, _share) as weights, mirror:
        analysis = demo_analysis(stack.prometheus_url, ready_query=False)
        stack.create_rollout(demo_rollout(analysis, traffic=ISTIO_TRAFFIC, steps=plan))
        done = _ended(stack, 240)
        wait_for(
            lambda: {"mirror": stack.routing().mirror}, lambda seen: seen["mirror"] == 0, 20, "no mirror"
        )
    assert phase(done) == "RolledBack", done["status"].get("message")
    assert "latency" in done["status"]["outcome"]["message"]
    assert weights.weights == [0]  # no user ever got the candidate's answer
    assert mirror.weights == [0, 50, 0]
    assert stack.load is not None and stack.load.counts().sent.get("v2", 0) == 0


def test_a_header_route_in_front_sends_only_matching_requests_to_the_candidate(
    make_stack: StackFactory,
) -> None:
    client = HeaderClient({"x-canary": "internal"}, 0.2)
    stack = _istio_stack(make_stack, IDENTICAL, header_client=client)
    canary = {"name": "X-Canary", "value": "internal"}  # Istio stores the name lower-cased
    plan = [{"setHeaderRoute": {"match": [canary]}}, {"approve": {}}, {"setWeight": 100}]
    stack.create_rollout(demo_rollout(demo_analysis(stack.prometheus_url), traffic=ISTIO_TRAFFIC, steps=plan))
    counts = header_routed_at_the_gate(stack)
    assert counts.sent.get("v2", 0) == counts.header_routed  # the header's requests and no others
    assert [route["name"] for route in _http_routes(stack)] == ["primary-canary-header", "primary"]


def _http_routes(stack: LocalStack) -> list[dict[str, Any]]:
    routes: list[dict[str, Any]] = stack.kube.get(VIRTUAL_SERVICES, ROUTE, stack.namespace)["spec"]["http"]
    return routes


def test_abort_direct_with_the_controller_down_sends_everything_to_the_baseline(
    make_stack: StackFactory, kube: Kube, testbed: LocalCluster
) -> None:
    stack = _istio_stack(make_stack, IDENTICAL)
    steps = [{"setWeight": 25}, {"approve": {}}, {"setWeight": 100}]
    stack.create_rollout(
        demo_rollout(demo_analysis(stack.prometheus_url), traffic=ISTIO_TRAFFIC, steps=steps)
    )
    wait_for(
        stack.rollout,
        lambda o: "waiting for approval" in o.get("status", {}).get("message", ""),
        120,
        "the gate",
    )
    wait_for_share(stack, 0.25, "the VirtualService at 25%")
    stack.stop_controller()
    # A mirror and a header route as the router writes them for setMirror / setHeaderRoute steps.
    router = IstioRouter(
        RouterTarget(kube, stack.namespace, "model-v1", "model-v2"), ROUTE, ISTIO_ROUTE, *ISTIO_DESTINATIONS
    )
    router.set_mirror(20)
    router.set_header_route((HeaderMatch(name="x-canary", value="yes"),))
    assert stack.routing().mirror == 0.2 and stack.routing().header_match

    aborted = CliRunner().invoke(
        app,
        [
            "abort",
            "fraud-scorer",
            "--reason",
            "bad scores",
            "--direct",
            "--kubeconfig",
            str(testbed.kubeconfig),
            "-n",
            stack.namespace,
        ],
    )
    assert aborted.exit_code == 0, aborted.output
    assert stack.routing() == Routing(share=0.0)  # at once, with no controller running
    assert (
        f"VirtualService {stack.namespace}/{ROUTE} now sends 100% to model subset v1 "
        "and 0% to model subset v2, with no mirror or header route (it sent 25%)" in aborted.stdout
    )
    assert stack.rollout()["spec"]["abort"]["reason"] == "bad scores"
