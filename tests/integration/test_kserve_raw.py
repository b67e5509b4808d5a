"""Two raw-mode InferenceServices rolled out behind an HTTPRoute, with KServe's own controller.

What is exercised: KServe v0.20.0's manager (rollouts.testbed.kserve), built from source, making
each InferenceService's predictor Deployment and Service and writing its status from the
Deployment's availability; the controller rolling out from one predictor Deployment to the other
through the Gateway API router (backends: KServe's predictor Services), scaling both Deployments
itself, and KServe leaving those sizes alone (autoscaler class ``external``) while it keeps
reconciling; and a rollout naming the InferenceServices themselves (class ``none``), waiting for
the candidate InferenceService and sizing both through ``minReplicas``/``maxReplicas``, which
KServe turns into its Deployments' sizes.

What is not: traffic (no Prometheus or load here; the e2e suite has them), KServe's webhooks (not
registered: objects are stored as written), serving runtimes (a custom predictor container).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from kubernetes.client import ApiClient

from rollouts.controller.shell.resources import MODEL_ROLLOUTS
from rollouts.local.manifests import http_route, raw_inference_service
from rollouts.runtime.kube import (
    DEPLOYMENTS,
    HORIZONTAL_POD_AUTOSCALERS,
    HTTP_ROUTES,
    INFERENCE_SERVICES,
    Kube,
    KubeObject,
    PatchType,
)
from rollouts.testbed import LocalCluster, versions
from rollouts.testbed.binaries import find_kserve_manager
from rollouts.testbed.kserve import KServeController
from tests.support.cluster import missing_problem
from tests.support.controller import condition, phase, rollout_reader, running_controller, wait_for
from tests.support.need import need
from tests.support.workloads import model_rollout

pytestmark = [pytest.mark.cluster, pytest.mark.usefixtures("crds", "kserve")]

V1, V2 = "m1-predictor", "m2-predictor"
"""KServe's predictor Deployments and Services. The InferenceServices' names are short because
KServe's default ingress domain template makes ``<isvc>-predictor-<namespace>`` a DNS label (at
most 63 characters), and the tests' namespaces are long."""
STEPS = [{"setWeight": 20}, {"setWeight": 60}, {"setWeight": 100}]
GATED: list[dict[str, Any]] = [{"setWeight": 50}, {"approve": {}}, {"setWeight": 100}]


@pytest.fixture(scope="module")
def kserve(
    testbed: LocalCluster, api_client: ApiClient, kube: Kube, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[KServeController]:
    """KServe's manager, running for this module's tests."""
    problem = missing_problem(find_kserve_manager)
    need(not problem, f"KServe {versions.KSERVE}'s manager", problem)
    workdir = Path(tmp_path_factory.mktemp("kserve"))
    with KServeController(testbed.kubeconfig, api_client, kube, workdir) as controller:
        yield controller


def _ready(isvc: KubeObject) -> bool:
    conditions = {c["type"]: c["status"] for c in isvc.get("status", {}).get("conditions", [])}
    return conditions.get("Ready") == "True" and conditions.get("PredictorReady") == "True"


def _wait_ready(kube: Kube, name: str, namespace: str) -> KubeObject:
    return wait_for(
        lambda: kube.get(INFERENCE_SERVICES, name, namespace), _ready, 60, f"KServe: {name} Ready"
    )


def _replicas(kube: Kube, name: str, namespace: str) -> int:
    return int(kube.get(DEPLOYMENTS, name, namespace)["spec"]["replicas"])


def test_kserve_makes_the_predictor_deployment_and_reports_it_ready(kube: Kube, namespace: str) -> None:
    kube.create(INFERENCE_SERVICES, raw_inference_service("m1", "v1"), namespace)
    isvc = _wait_ready(kube, "m1", namespace)
    assert isvc["status"]["deploymentMode"] == "Standard"
    deployment = kube.get(DEPLOYMENTS, V1, namespace)
    (owner,) = deployment["metadata"]["ownerReferences"]
    assert (owner["kind"], owner["name"]) == ("InferenceService", "m1")
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert labels["serving.kserve.io/inferenceservice"] == "m1"
    assert labels["component"] == "predictor" and labels["version"] == "v1"


def test_a_rollout_between_two_inference_services_promotes_and_kserve_keeps_the_sizes(
    testbed: LocalCluster, kube: Kube, namespace: str
) -> None:
    for name, version in (("m1", "v1"), ("m2", "v2")):
        kube.create(INFERENCE_SERVICES, raw_inference_service(name, version), namespace)
        _wait_ready(kube, name, namespace)
    # The baseline's size, as the user's own (external) autoscaler would set it.
    kube.patch(DEPLOYMENTS, V1, {"spec": {"replicas": 4}}, PatchType.MERGE, namespace, subresource="scale")
    kube.create(HTTP_ROUTES, http_route("model", V1, V2), namespace)
    read = rollout_reader(kube, "model", namespace)
    with running_controller(testbed.kubeconfig, namespace):
        rollout = model_rollout("model", steps=STEPS, baseline=(V1, "v1"), candidate=(V2, "v2"))
        kube.create(MODEL_ROLLOUTS, rollout, namespace)
        _promoted_with_the_baseline_stopped(kube, read, namespace)
        assert _replicas(kube, V2, namespace) == 4  # auto: the baseline's size at 100%
    route = kube.get(HTTP_ROUTES, "model", namespace)
    assert [ref["weight"] for ref in route["spec"]["rules"][0]["backendRefs"]] == [0, 100]
    # A spec change makes KServe reconcile the candidate again (and roll its pods): once its
    # Deployment carries the change, the size is still the controller's. (KServe's raw-mode
    # status.observedGeneration is the Deployment's, not the InferenceService's: no use here.)
    relabel = {"spec": {"predictor": {"labels": {"reconciled": "again"}}}}
    kube.patch(INFERENCE_SERVICES, "m2", relabel, PatchType.MERGE, namespace)
    deployment = wait_for(
        lambda: kube.get(DEPLOYMENTS, V2, namespace),
        lambda d: d["spec"]["template"]["metadata"]["labels"].get("reconciled") == "again",
        60,
        "KServe: the new predictor spec in the Deployment",
    )
    assert deployment["spec"]["replicas"] == 4
    _wait_ready(kube, "m2", namespace)


def _promoted_with_the_baseline_stopped(kube: Kube, read: Callable[[], KubeObject], namespace: str) -> None:
    """The rollout succeeds, and the baseline's predictor Deployment reaches 0 after scaleDown.delay."""
    done = wait_for(read, lambda o: phase(o) in ("Succeeded", "Failed", "RolledBack"), 120, "the outcome")
    assert phase(done) == "Succeeded", done.get("status")
    wait_for(
        lambda: kube.get(DEPLOYMENTS, V1, namespace),
        lambda d: d["spec"]["replicas"] == 0,
        30,
        "the baseline's predictor scaled down after scaleDown.delay",
    )


def _sized(name: str, version: str, min_replicas: int) -> KubeObject:
    """An InferenceService KServe sizes itself (class ``none``: replicas = minReplicas)."""
    isvc = raw_inference_service(name, version, autoscaler_class="none")
    isvc["spec"]["predictor"] |= {"minReplicas": min_replicas, "maxReplicas": min_replicas}
    return isvc


def test_a_rollout_naming_inference_services_sizes_them_through_min_replicas(
    testbed: LocalCluster, kube: Kube, namespace: str
) -> None:
    """baseline/candidate.inferenceService: readiness waits for the InferenceService, the
    controller writes minReplicas/maxReplicas and KServe (class ``none``) resizes its Deployments."""
    kube.create(INFERENCE_SERVICES, _sized("m1", "v1", 3), namespace)
    _wait_ready(kube, "m1", namespace)
    kube.create(HTTP_ROUTES, http_route("model", V1, V2), namespace)
    read = rollout_reader(kube, "model", namespace)
    with running_controller(testbed.kubeconfig, namespace):
        rollout = model_rollout("model", steps=STEPS, baseline=(V1, "v1"), candidate=(V2, "v2"))
        rollout["spec"] |= {
            "baseline": {"inferenceService": "m1", "version": "v1"},
            "candidate": {"inferenceService": "m2", "version": "v2"},
        }
        kube.create(MODEL_ROLLOUTS, rollout, namespace)
        waiting = wait_for(
            read,
            lambda o: "InferenceService m2 not found" in condition(o, "Ready").get("message", ""),
            60,
            "the candidate InferenceService awaited",
        )
        assert waiting["status"]["weight"] == 0
        kube.create(INFERENCE_SERVICES, _sized("m2", "v2", 1), namespace)
        _promoted_with_the_baseline_stopped(kube, read, namespace)
    predictors = {
        name: kube.get(INFERENCE_SERVICES, name, namespace)["spec"]["predictor"] for name in ("m1", "m2")
    }
    assert (predictors["m1"]["minReplicas"], predictors["m1"]["maxReplicas"]) == (0, 0)
    assert (predictors["m2"]["minReplicas"], predictors["m2"]["maxReplicas"]) == (3, 3)  # the baseline's size
    assert _replicas(kube, V2, namespace) == 3  # written by KServe, from minReplicas
    route = kube.get(HTTP_ROUTES, "model", namespace)
    assert [ref["weight"] for ref in route["spec"]["rules"][0]["backendRefs"]] == [0, 100]


def test_a_replaced_candidate_inference_service_is_stopped_through_min_replicas(
    testbed: LocalCluster, kube: Kube, namespace: str
) -> None:
    """A candidate replaced mid-rollout (status.replacedCandidates, by its Deployment) that is an
    InferenceService of class ``none`` is scaled to 0 through minReplicas: a write to its
    Deployment would be undone by KServe at its next reconcile."""
    kube.create(INFERENCE_SERVICES, _sized("m1", "v1", 2), namespace)
    for name, version in (("m2", "v2"), ("m3", "v3")):
        kube.create(INFERENCE_SERVICES, _sized(name, version, 0), namespace)
    for name in ("m1", "m2", "m3"):
        _wait_ready(kube, name, namespace)
    read = rollout_reader(kube, "model", namespace)
    with running_controller(testbed.kubeconfig, namespace):
        rollout = model_rollout("model", steps=GATED, route=None)  # the replicas router
        rollout["spec"] |= {
            "baseline": {"inferenceService": "m1", "version": "v1"},
            "candidate": {"inferenceService": "m2", "version": "v2"},
        }
        kube.create(MODEL_ROLLOUTS, rollout, namespace)
        wait_for(read, lambda o: o.get("status", {}).get("currentStep") == 1, 90, "m2 at its gate")
        wait_for(
            lambda: kube.get(DEPLOYMENTS, V2, namespace),
            lambda d: d["spec"]["replicas"] > 0,
            60,
            "KServe: m2-predictor running, from minReplicas",
        )
        candidate = {"candidate": {"inferenceService": "m3", "version": "v3"}}
        kube.patch(MODEL_ROLLOUTS, "model", {"spec": candidate}, PatchType.MERGE, namespace)
        wait_for(
            read,
            lambda o: (
                o.get("status", {}).get("candidateVersion") == "v3" and o["status"].get("currentStep") == 1
            ),
            90,
            "m3 at its gate",
        )
        _sized_to(kube, V2, namespace, 0, "KServe: the replaced m2-predictor at minReplicas 0")
        gate = wait_for(
            read, lambda o: not o["status"].get("replacedCandidates"), 30, "m2 forgotten once stopped"
        )
    predictor = kube.get(INFERENCE_SERVICES, "m2", namespace)["spec"]["predictor"]
    assert (predictor["minReplicas"], predictor["maxReplicas"]) == (0, 0)
    assert gate["status"]["candidateVersion"] == "v3"


def _sized_to(kube: Kube, name: str, namespace: str, replicas: int, what: str) -> None:
    wait_for(
        lambda: kube.get(DEPLOYMENTS, name, namespace), lambda d: d["spec"]["replicas"] == replicas, 60, what
    )


def test_kserves_own_hpa_is_caught_by_preflight_before_any_traffic(
    testbed: LocalCluster, kube: Kube, namespace: str
) -> None:
    """Without ``autoscalerClass: external`` KServe sizes the predictors with HPAs of its own,
    which would undo the controller's sizes: preflight names the baseline's and moves nothing."""
    for name, version in (("m1", "v1"), ("m2", "v2")):
        kube.create(
            INFERENCE_SERVICES, raw_inference_service(name, version, autoscaler_class="hpa"), namespace
        )
        _wait_ready(kube, name, namespace)
    hpa = kube.get(HORIZONTAL_POD_AUTOSCALERS, V1, namespace)
    assert hpa["spec"]["scaleTargetRef"]["name"] == V1  # KServe's, named like its Deployment
    kube.create(HTTP_ROUTES, http_route("model", V1, V2), namespace)
    read = rollout_reader(kube, "model", namespace)
    with running_controller(testbed.kubeconfig, namespace):
        rollout = model_rollout("model", steps=STEPS, baseline=(V1, "v1"), candidate=(V2, "v2"))
        kube.create(MODEL_ROLLOUTS, rollout, namespace)
        blocked = wait_for(
            read,
            lambda o: condition(o, "Preflight").get("reason") == "PreflightFailed",
            60,
            "PreflightFailed",
        )
    message = condition(blocked, "Preflight")["message"]
    assert f"HorizontalPodAutoscaler {V1} already sizes the baseline Deployment {V1}" in message, message
    assert "annotate the InferenceService serving.kserve.io/autoscalerClass: external" in message
    assert blocked["status"]["weight"] == 0
    route = kube.get(HTTP_ROUTES, "model", namespace)
    assert [ref["weight"] for ref in route["spec"]["rules"][0]["backendRefs"]] == [100, 0]
