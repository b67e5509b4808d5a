"""End to end on KServe: the stack of tests/e2e/test_rollouts.py with InferenceServices serving.

Serverless mode: one InferenceService's ``canaryTrafficPercent`` (the kserve router); the load
generator follows ``status.components.predictor.traffic`` (rollouts.traffic.kserve's
``kserve_routing``) as Knative's data plane would. KServe's CRD is real; what KServe and
Knative write into that status is written by tests/support/kserve.py's stand-in, from a watch
(docs/kserve.md says why there is no Knative here).

Raw mode: KServe v0.20.0's own controller (rollouts.testbed.kserve) makes the predictor
Deployments (kwok pods) and Services of two InferenceServices the rollout names
(``inferenceService:``, autoscaler class ``none``); the Gateway API router splits an HTTPRoute
over the predictor Services and the load generator follows it. Sizes are written as
``minReplicas`` and KServe turns them into its Deployments' replicas.

Real model-server processes and a real Prometheus in both. Decision — the serverless test comes
first in this module: KServe's controller, a module fixture started by the first raw-mode test,
would reconcile a ``Knative`` InferenceService too (and fail, with no Knative) over the stand-in.
"""

from __future__ import annotations

from typing import Any

import pytest
from kubernetes.client import ApiClient

from rollouts.local.model_server.config import Device, Switches
from rollouts.local.stack import (
    APP,
    KSERVE_RAW,
    KSERVE_RAW_SPEC,
    KSERVE_REVISIONS,
    KSERVE_SERVERLESS_SPEC,
    ROUTE,
    KServeMode,
    LocalStack,
    demo_analysis,
    demo_rollout,
)
from rollouts.runtime.kube import DEPLOYMENTS, HTTP_ROUTES, INFERENCE_SERVICES, Kube, PatchType
from rollouts.testbed.crds import install_crds
from rollouts.traffic.gateway_api import gateway_api_routing
from rollouts.traffic.kserve import kserve_routing, predictor_status
from tests.e2e.conftest import StackFactory, wait_for_share
from tests.integration.test_kserve_raw import kserve  # noqa: F401 (KServe's controller, a module fixture)
from tests.support.controller import ShareRecorder, phase, wait_for
from tests.support.kserve import Revisions, ServerlessStandIn

pytestmark = [pytest.mark.e2e, pytest.mark.slow, pytest.mark.usefixtures("kserve_crds")]

CPU_FALLBACK = Switches(device=Device.CPU, error_rate=0.01)
BACKENDS = tuple(f"{name}-predictor" for name in KSERVE_RAW)
"""KServe's predictor Deployments and Services (the HTTPRoute's backends)."""
SHORT = [{"setWeight": 50}, {"analyze": {"duration": "60s"}}, {"setWeight": 100}]


@pytest.fixture(scope="module")
def kserve_crds(api_client: ApiClient) -> list[str]:
    return install_crds(api_client, modelrollout=False, gateway_api=False, kserve=True)


def _ended(stack: LocalStack, timeout: float) -> dict[str, Any]:
    return wait_for(
        stack.rollout, lambda o: phase(o) in ("Succeeded", "RolledBack", "Failed"), timeout, "the end"
    )


def test_serverless_a_cpu_fallback_revision_is_rolled_back_and_knative_sends_it_nothing(
    make_stack: StackFactory, kube: Kube, namespace: str
) -> None:
    baseline, candidate = KSERVE_REVISIONS
    with ServerlessStandIn(kube, ROUTE, namespace, Revisions(created=baseline, ready=baseline)) as knative:
        stack = make_stack(candidate=CPU_FALLBACK, kserve=KServeMode.SERVERLESS)
        wait_for(
            lambda: predictor_status(stack.kube.get(INFERENCE_SERVICES, ROUTE, namespace)), bool, 20, "v1"
        )
        # A person applies the new model; Knative makes revision 2, ready, at canaryTrafficPercent 0.
        knative.revisions = Revisions(created=candidate, ready=candidate)
        new_model = [
            {"op": "replace", "path": "/spec/predictor/model/storageUri", "value": f"gs://models/{APP}/v2"}
        ]
        kube.patch(INFERENCE_SERVICES, ROUTE, new_model, PatchType.JSON, namespace)
        wait_for(
            lambda: predictor_status(kube.get(INFERENCE_SERVICES, ROUTE, namespace)),
            lambda predictor: predictor.get("latestCreatedRevision") == candidate,
            20,
            "KServe (stand-in): revision 2 at 0%",
        )
        share = ShareRecorder(
            kube,
            INFERENCE_SERVICES,
            ROUTE,
            namespace,
            lambda isvc: kserve_routing(isvc, *KSERVE_REVISIONS).share,
        )
        with share:
            analysis = demo_analysis(stack.prometheus_url, ready_query=False)
            stack.create_rollout(demo_rollout(analysis, **KSERVE_SERVERLESS_SPEC))
            done = _ended(stack, 240)
            wait_for_share(stack, 0.0, "Knative's traffic back at 0% to revision 2")
    assert phase(done) == "RolledBack", done["status"].get("message")
    assert done["status"]["weight"] == 0
    assert "latency" in done["status"]["outcome"]["message"]
    assert share.weights == [0, 25, 0]
    assert (
        stack.load is not None and stack.load.counts().sent.get("v2", 0) > 0
    )  # the load followed the status
    assert kube.get(INFERENCE_SERVICES, ROUTE, namespace)["spec"]["predictor"]["canaryTrafficPercent"] == 0


def _raw_share(route: dict[str, Any]) -> float:
    return gateway_api_routing(route, 0, *BACKENDS).share


def _predictor_replicas(kube: Kube, namespace: str, deployment: str, replicas: int) -> None:
    wait_for(
        lambda: kube.get(DEPLOYMENTS, deployment, namespace),
        lambda d: d["spec"]["replicas"] == replicas,
        60,
        f"KServe: {deployment} at {replicas} replicas (from minReplicas)",
    )


@pytest.mark.usefixtures("kserve")
def test_raw_a_good_inference_service_is_promoted_and_kserve_resizes_both(
    make_stack: StackFactory, kube: Kube, namespace: str
) -> None:
    stack = make_stack(kserve=KServeMode.RAW, baseline_replicas=2)
    with ShareRecorder(kube, HTTP_ROUTES, ROUTE, namespace, _raw_share) as recorder:
        stack.create_rollout(
            demo_rollout(demo_analysis(stack.prometheus_url), steps=SHORT, **KSERVE_RAW_SPEC)
        )
        done = _ended(stack, 240)
        assert phase(done) == "Succeeded", done["status"].get("message")
    assert recorder.weights == [0, 50, 100]
    assert done["status"]["stableVersion"] == "v2"
    assert stack.load is not None and stack.load.counts().sent.get("v2", 0) > 0  # the load followed the route
    _predictor_replicas(kube, namespace, BACKENDS[1], 2)  # the baseline's size, written as minReplicas
    _predictor_replicas(kube, namespace, BACKENDS[0], 0)  # after scaleDown.delay
    predictor = kube.get(INFERENCE_SERVICES, KSERVE_RAW[1], namespace)["spec"]["predictor"]
    assert (predictor["minReplicas"], predictor["maxReplicas"]) == (2, 2)


@pytest.mark.usefixtures("kserve")
def test_raw_a_cpu_fallback_inference_service_is_rolled_back_to_weight_0(
    make_stack: StackFactory, kube: Kube, namespace: str
) -> None:
    stack = make_stack(candidate=CPU_FALLBACK, kserve=KServeMode.RAW)
    analysis = demo_analysis(stack.prometheus_url, ready_query=False)
    stack.create_rollout(demo_rollout(analysis, **KSERVE_RAW_SPEC))
    done = _ended(stack, 240)
    assert phase(done) == "RolledBack", done["status"].get("message")
    assert done["status"]["weight"] == 0
    assert "latency" in done["status"]["outcome"]["message"]
    wait_for_share(stack, 0.0, "the HTTPRoute back at 0%")
    _predictor_replicas(kube, namespace, BACKENDS[1], 0)  # KServe, from the candidate's minReplicas 0
