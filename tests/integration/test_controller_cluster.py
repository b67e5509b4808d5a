"""The controller against a real kube-apiserver, controller-manager, scheduler and kwok.

No Prometheus here (the e2e suite has it): these rollouts use setWeight and approve steps, so
what is tested is the control loop itself — staged weights on a real HTTPRoute, approvals,
abort, restart from status, preflight and scheduling failures, candidate scaling — all on
real Deployment status reported by the real controllers.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from rollouts.api.timestamps import format_timestamp, parse_timestamp
from rollouts.controller.shell.resources import MODEL_ROLLOUTS
from rollouts.local.manifests import http_route, model_deployment
from rollouts.runtime.kube import DEPLOYMENTS, HTTP_ROUTES, Kube, PatchType
from rollouts.testbed import LocalCluster
from rollouts.testbed.cluster import NodeSpec
from tests.support.controller import (
    WeightRecorder,
    condition,
    phase,
    reconciles,
    rollout_reader,
    running_controller,
    wait_for,
)
from tests.support.workloads import model_rollout

pytestmark = [pytest.mark.cluster, pytest.mark.usefixtures("crds")]

GATED = [{"setWeight": 20}, {"approve": {}}, {"setWeight": 60}, {"setWeight": 100}]


def _setup(
    kube: Kube, namespace: str, *, candidate: dict[str, Any] | None = None, route: bool = True
) -> None:
    kube.create(DEPLOYMENTS, model_deployment("model-v1", "v1", replicas=4), namespace)
    kube.create(DEPLOYMENTS, candidate or model_deployment("model-v2", "v2", replicas=0), namespace)
    if route:
        kube.create(HTTP_ROUTES, http_route("model", "model-v1", "model-v2"), namespace)


def _approve(kube: Kube, name: str, namespace: str, step: int) -> None:
    patch = {
        "spec": {
            "approvals": [{"step": step, "version": "v2", "requestedAt": format_timestamp(datetime.now(UTC))}]
        }
    }
    kube.patch(MODEL_ROLLOUTS, name, patch, PatchType.MERGE, namespace)


def _replicas(kube: Kube, name: str, namespace: str) -> int:
    return int(kube.get(DEPLOYMENTS, name, namespace)["spec"]["replicas"])


def test_good_rollout_walks_every_weight_and_promotes(
    testbed: LocalCluster, kube: Kube, namespace: str
) -> None:
    _setup(kube, namespace)
    read = rollout_reader(kube, "model", namespace)
    with (
        WeightRecorder(kube, "model", namespace, "model-v2") as recorder,
        running_controller(testbed.kubeconfig, namespace),
    ):
        kube.create(MODEL_ROLLOUTS, model_rollout("model", steps=GATED), namespace)
        gate = wait_for(read, lambda o: o.get("status", {}).get("currentStep") == 1, 60, "the approve gate")
        assert gate["status"]["weight"] == 20
        assert gate["status"]["effectiveWeight"] == 20
        assert _replicas(kube, "model-v2", namespace) == 1  # auto: ceil(4 x 20%)
        _approve(kube, "model", namespace, step=1)
        done = wait_for(read, lambda o: phase(o) == "Succeeded", 60, "promotion")
        assert done["status"]["stableVersion"] == "v2"
        wait_for(
            lambda: kube.get(DEPLOYMENTS, "model-v1", namespace),
            lambda d: d["spec"]["replicas"] == 0,
            30,
            "the baseline scaled down after scaleDown.delay",
        )
        assert _replicas(kube, "model-v2", namespace) == 4
    assert recorder.weights == [0, 20, 60, 100]
    reasons = [entry["reason"] for entry in done["status"]["history"]]
    assert reasons[0] == "RolloutStarted"
    assert "Promoted" in reasons


def test_abort_sends_traffic_back_at_once(testbed: LocalCluster, kube: Kube, namespace: str) -> None:
    _setup(kube, namespace)
    read = rollout_reader(kube, "model", namespace)
    with running_controller(testbed.kubeconfig, namespace):
        kube.create(MODEL_ROLLOUTS, model_rollout("model", steps=GATED), namespace)
        wait_for(read, lambda o: o.get("status", {}).get("currentStep") == 1, 60, "the approve gate")
        abort = {"spec": {"abort": {"reason": "p99 alarm", "requestedBy": "oncall", "version": "v2"}}}
        kube.patch(MODEL_ROLLOUTS, "model", abort, PatchType.MERGE, namespace)
        aborted = wait_for(read, lambda o: phase(o) == "Aborted", 30, "the abort")
    route = kube.get(HTTP_ROUTES, "model", namespace)
    weights = {ref["name"]: ref["weight"] for ref in route["spec"]["rules"][0]["backendRefs"]}
    assert weights == {"model-v1": 100, "model-v2": 0}
    assert "p99 alarm" in aborted["status"]["outcome"]["message"]


def test_controller_restart_resumes_from_status(testbed: LocalCluster, kube: Kube, namespace: str) -> None:
    _setup(kube, namespace)
    read = rollout_reader(kube, "model", namespace)
    with (
        WeightRecorder(kube, "model", namespace, "model-v2") as recorder,
    ):
        with running_controller(testbed.kubeconfig, namespace):
            kube.create(MODEL_ROLLOUTS, model_rollout("model", steps=GATED), namespace)
            before = wait_for(read, lambda o: o.get("status", {}).get("currentStep") == 1, 60, "the gate")
        with running_controller(testbed.kubeconfig, namespace) as restarted:
            # Same step, same weight, same start once the restarted controller has reconciled.
            wait_for(
                lambda: {"reconciles": reconciles(restarted)},
                lambda seen: seen["reconciles"] >= 1,
                30,
                "the restarted controller's first reconcile",
            )
            after = read()
            assert after["status"]["currentStep"] == 1
            assert after["status"]["weight"] == 20
            assert after["status"]["startedAt"] == before["status"]["startedAt"]
            _approve(kube, "model", namespace, step=1)
            wait_for(read, lambda o: phase(o) == "Succeeded", 60, "promotion after the restart")
    assert recorder.weights == sorted(recorder.weights)
    assert recorder.weights[-1] == 100


def test_the_rollouts_cost_counts_the_candidates_gpus_until_the_scale_down(
    testbed: LocalCluster, kube: Kube, namespace: str
) -> None:
    gpu_node = f"gpu-{namespace}"[:60]
    testbed.add_node(NodeSpec(gpu_node, gpus=4, labels={"pool": gpu_node}))
    for name, version, replicas in (("model-v1", "v1", 2), ("model-v2", "v2", 0)):
        deployment = model_deployment(name, version, replicas, gpus=1, node_selector={"pool": gpu_node})
        kube.create(DEPLOYMENTS, deployment, namespace)
    kube.create(HTTP_ROUTES, http_route("model", "model-v1", "model-v2"), namespace)
    read = rollout_reader(kube, "model", namespace)
    with running_controller(testbed.kubeconfig, namespace):
        kube.create(MODEL_ROLLOUTS, model_rollout("model", steps=GATED), namespace)
        wait_for(read, lambda o: o.get("status", {}).get("currentStep") == 1, 60, "the approve gate")
        _approve(kube, "model", namespace, step=1)
        done = wait_for(read, lambda o: "scaledDownAt" in o.get("status", {}), 60, "the scale-down")
    status = done["status"]
    cost = status["cost"]
    assert cost["accountedAt"] == status["scaledDownAt"]  # final: counted up to the scale-down
    assert cost["extraPodSeconds"] > 0
    assert cost["extraAcceleratorSeconds"] == cost["extraPodSeconds"]  # one GPU a pod, both versions
    span = (parse_timestamp(status["scaledDownAt"]) - parse_timestamp(status["startedAt"])).total_seconds()
    assert cost["extraPodSeconds"] <= 2 * span  # never more than the candidate's 2 pods all along
    assert "accelerator-hours" in status["history"][-1]["message"]


def test_preflight_failure_keeps_all_traffic_on_the_baseline(
    testbed: LocalCluster, kube: Kube, namespace: str
) -> None:
    gpu_node = f"gpu-{namespace}"[:60]
    testbed.add_node(NodeSpec(gpu_node, gpus=4, labels={"pool": gpu_node}))
    kube.create(
        DEPLOYMENTS,
        model_deployment("model-v1", "v1", 2, gpus=1, node_selector={"pool": gpu_node}),
        namespace,
    )
    kube.create(
        DEPLOYMENTS,
        model_deployment("model-v2", "v2", 1, gpus=0, node_selector={"pool": gpu_node}),
        namespace,
    )
    kube.create(HTTP_ROUTES, http_route("model", "model-v1", "model-v2"), namespace)
    read = rollout_reader(kube, "model", namespace)
    with running_controller(testbed.kubeconfig, namespace):
        kube.create(MODEL_ROLLOUTS, model_rollout("model", steps=GATED), namespace)
        blocked = wait_for(
            read,
            lambda o: condition(o, "Preflight").get("reason") == "PreflightFailed",
            30,
            "PreflightFailed",
        )
    assert "spec.template.spec.containers[0].resources" in condition(blocked, "Preflight")["message"]
    assert blocked["status"]["weight"] == 0
    route = kube.get(HTTP_ROUTES, "model", namespace)
    assert [ref["weight"] for ref in route["spec"]["rules"][0]["backendRefs"]] == [100, 0]


def test_unschedulable_candidate_fails_at_progress_deadline(
    testbed: LocalCluster, kube: Kube, namespace: str
) -> None:
    gpu_node = f"gpu-{namespace}"[:60]
    testbed.add_node(NodeSpec(gpu_node, gpus=2, labels={"pool": gpu_node}))
    kube.create(
        DEPLOYMENTS,
        model_deployment("model-v1", "v1", 1, gpus=1, node_selector={"pool": gpu_node}),
        namespace,
    )
    greedy = model_deployment("model-v2", "v2", 1, gpus=8, node_selector={"pool": gpu_node})
    kube.create(DEPLOYMENTS, greedy, namespace)
    kube.create(HTTP_ROUTES, http_route("model", "model-v1", "model-v2"), namespace)
    read = rollout_reader(kube, "model", namespace)
    with running_controller(testbed.kubeconfig, namespace):
        kube.create(MODEL_ROLLOUTS, model_rollout("model", steps=GATED, progressDeadline="15s"), namespace)
        failed = wait_for(read, lambda o: phase(o) == "Failed", 60, "the rollout to fail")
    outcome = failed["status"]["outcome"]
    assert outcome["reason"] == "ProgressDeadlineExceeded"
    assert "Insufficient nvidia.com/gpu" in outcome["message"]
    assert failed["status"]["weight"] == 0


def test_replicas_router_reports_the_effective_weight(
    testbed: LocalCluster, kube: Kube, namespace: str
) -> None:
    _setup(kube, namespace, route=False)
    read = rollout_reader(kube, "model", namespace)
    steps = [{"setWeight": 30}, {"approve": {}}, {"setWeight": 100}]
    with running_controller(testbed.kubeconfig, namespace):
        kube.create(MODEL_ROLLOUTS, model_rollout("model", steps=steps, route=None), namespace)
        gate = wait_for(read, lambda o: o.get("status", {}).get("currentStep") == 1, 60, "the approve gate")
        # 4 baseline pods, weight 30%: round(4 x 30/70) = 2 candidate pods → 2/6 = 33.3%.
        assert _replicas(kube, "model-v2", namespace) == 2
        assert gate["status"]["effectiveWeight"] == pytest.approx(33.333, abs=0.01)
        _approve(kube, "model", namespace, step=1)
        wait_for(read, lambda o: phase(o) == "Succeeded", 60, "promotion")
        wait_for(
            lambda: kube.get(DEPLOYMENTS, "model-v1", namespace),
            lambda d: d["spec"]["replicas"] == 0,
            30,
            "the baseline at 0",
        )
