"""The GPU budget (spec.capacity.maxSurge) on the test bed, with the real controller.

Real kube-apiserver, controller-manager, scheduler and kwok. Watches record, at every change,
the sum of both Deployments' spec.replicas, the pods that exist (Terminating ones included:
they hold their accelerators until gone), the app's Ready pods and the route's weights; the
assertions read those records, so no moment between two polls goes unseen.
"""

from __future__ import annotations

from typing import Any

import pytest
from kubernetes.client import ApiClient, CustomObjectsApi
from kubernetes.client.exceptions import ApiException

from rollouts.api.spec import CAPACITY_AUTOSCALER_MESSAGE, CAPACITY_REPLICAS_MESSAGE
from rollouts.controller.shell.resources import MODEL_ROLLOUTS
from rollouts.local.manifests import http_route, model_deployment
from rollouts.runtime.kube import DEPLOYMENTS, HTTP_ROUTES, Kube, KubeObject, PatchType
from rollouts.testbed import LocalCluster
from tests.cases.rollouts import valid_rollout
from tests.integration.test_crd_apiserver import create, refusals
from tests.support.controller import (
    PodRecorder,
    ServingRecorder,
    SizeRecorder,
    WeightRecorder,
    phase,
    rollout_reader,
    running_controller,
    wait_for,
)
from tests.support.workloads import model_rollout

pytestmark = [pytest.mark.cluster, pytest.mark.usefixtures("crds")]

BASELINE = 3
BUDGET = BASELINE + 1
APPS = ("model-v1", "model-v2")


def _plan(obj: KubeObject) -> tuple[int, int] | None:
    plan = obj.get("status", {}).get("replicaPlan")
    return None if not plan else (plan["baseline"], plan["candidate"])


def _sized(kube: Kube, namespace: str, name: str, replicas: int, what: str) -> None:
    wait_for(
        lambda: kube.get(DEPLOYMENTS, name, namespace),
        lambda d: (
            d["spec"]["replicas"] == replicas
            and int(d.get("status", {}).get("readyReplicas") or 0) == replicas
        ),
        90,
        what,
    )


def _create(kube: Kube, namespace: str) -> None:
    kube.create(DEPLOYMENTS, model_deployment("model-v1", "v1", replicas=BASELINE), namespace)
    kube.create(DEPLOYMENTS, model_deployment("model-v2", "v2", replicas=0), namespace)
    kube.create(HTTP_ROUTES, http_route("model", "model-v1", "model-v2"), namespace)
    _sized(kube, namespace, "model-v1", BASELINE, "the baseline serving at its size")


def test_a_rollout_under_max_surge_one_never_holds_more_than_the_budget(
    testbed: LocalCluster, kube: Kube, namespace: str
) -> None:
    _create(kube, namespace)
    read = rollout_reader(kube, "model", namespace)
    steps = [{"setWeight": 50}, {"setWeight": 100}]
    with (
        SizeRecorder(kube, namespace, APPS) as sizes,
        PodRecorder(kube, namespace) as pods,
        ServingRecorder(kube, namespace, APPS) as serving,
        WeightRecorder(kube, "model", namespace, "model-v2") as weights,
        running_controller(testbed.kubeconfig, namespace),
    ):
        rollout = model_rollout("model", steps=steps, capacity={"maxSurge": {"pods": 1}})
        kube.create(MODEL_ROLLOUTS, rollout, namespace)
        done = wait_for(read, lambda o: o.get("status", {}).get("scaledDownAt") is not None, 180, "promotion")
        _sized(kube, namespace, "model-v2", BASELINE, "the candidate at the baseline's size")
        _sized(kube, namespace, "model-v1", 0, "the baseline scaled down")
    assert phase(done) == "Succeeded"
    assert done["status"]["replicaPlan"]["budget"] == BUDGET
    assert max(sizes.totals) == BUDGET, sizes.totals  # the surge was used, never exceeded
    assert max(pods.totals) <= BUDGET, pods.totals
    assert weights.weights == [0, 50, 100]
    assert serving.lowest is not None and serving.lowest > 0, serving.totals


def test_a_rollback_under_the_budget_sends_traffic_back_at_once_and_restores_the_baseline(
    testbed: LocalCluster, kube: Kube, namespace: str
) -> None:
    _create(kube, namespace)
    read = rollout_reader(kube, "model", namespace)
    steps = [{"setWeight": 50}, {"approve": {}}]
    with (
        SizeRecorder(kube, namespace, APPS) as sizes,
        PodRecorder(kube, namespace) as pods,
        ServingRecorder(kube, namespace, APPS) as serving,
        WeightRecorder(kube, "model", namespace, "model-v2") as weights,
        running_controller(testbed.kubeconfig, namespace),
    ):
        rollout = model_rollout("model", steps=steps, capacity={"maxSurge": {"pods": 1}})
        kube.create(MODEL_ROLLOUTS, rollout, namespace)
        wait_for(read, lambda o: o.get("status", {}).get("currentStep") == 1, 120, "the approve gate")
        _sized(kube, namespace, "model-v2", 2, "the candidate at its 50% size")
        _sized(kube, namespace, "model-v1", 2, "the baseline shrunk to its share")
        abort = {"abort": {"reason": "on-call", "requestedBy": "test", "version": "v2"}}
        kube.patch(MODEL_ROLLOUTS, "model", {"spec": abort}, PatchType.MERGE, namespace)
        ended = wait_for(read, lambda o: phase(o) == "Aborted", 30, "the abort")
        _sized(kube, namespace, "model-v1", BASELINE, "the baseline back at its size")
        wait_for(
            read, lambda o: o["status"].get("scaledDownAt") is not None, 60, "the candidate's scale-down"
        )
        _sized(kube, namespace, "model-v2", 0, "the candidate stopped")
    assert ended["status"]["weight"] == 0  # traffic back in the decision that ended the rollout
    assert max(sizes.totals) <= BUDGET, sizes.totals
    assert max(pods.totals) <= BUDGET, pods.totals
    assert weights.weights == [0, 50, 0]
    assert serving.lowest is not None and serving.lowest > 0, serving.totals


@pytest.mark.parametrize(
    ("capacity", "spec", "message"),
    [
        ({"maxSurge": {"pods": 1}}, {"autoscaler": {"name": "model"}}, CAPACITY_AUTOSCALER_MESSAGE),
        ({"maxSurge": {"pods": 1}}, {"traffic": {"replicas": {}}}, CAPACITY_REPLICAS_MESSAGE),
        ({"maxSurge": {"pods": 1, "accelerators": 2}}, {}, "exactly one unit must be set"),
        ({"maxSurge": {"pods": 0}}, {}, "should be greater than or equal to 1"),
    ],
    ids=["autoscaler", "replicas-router", "two-units", "zero"],
)
def test_the_api_server_refuses_a_budget_it_cannot_keep_naming_the_field(
    api_client: ApiClient, namespace: str, capacity: dict[str, Any], spec: dict[str, Any], message: str
) -> None:
    body = valid_rollout(namespace=namespace)
    body["spec"].update({"capacity": capacity, **spec})
    with pytest.raises(ApiException) as refused:
        create(CustomObjectsApi(api_client), namespace, body)
    reasons = [text for text, _ in refusals(refused.value)]
    assert any("spec.capacity" in text and message in text for text in reasons), reasons
