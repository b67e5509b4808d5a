"""The cache transforms keep every field the controller reads (rollouts.controller.shell.trim).

Each guardrail's own test cases are run twice — on the objects as written and on what the
cache keeps of them — and must give the same result, field for field; then whole objects as
the API server sends them (managedFields, images, env, the last-applied annotation) go through
the observation the reconciler makes (``candidate_health``) trimmed and untrimmed.
"""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime
from typing import Any

import pytest

from rollouts.api.resource import ModelRollout
from rollouts.api.spec import AutoscalerKind
from rollouts.api.status import ModelRolloutStatus
from rollouts.controller.core.selectors import matches
from rollouts.controller.shell.fetch import World, candidate_health, deployment_state
from rollouts.controller.shell.pod_scope import deployment_of_pod
from rollouts.controller.shell.scaling.inference_service import controlling_inference_service
from rollouts.controller.shell.trim import (
    LAST_APPLIED,
    drop_bookkeeping,
    trim_autoscaler,
    trim_deployment,
    trim_node,
    trim_pod,
)
from rollouts.guardrails.accelerators import AcceleratorResources
from rollouts.guardrails.autoscalers import Autoscaler, autoscaler_of
from rollouts.guardrails.pod_health import assess_pod_health
from rollouts.guardrails.preflight import preflight
from rollouts.guardrails.readiness import assess_candidate
from tests.unit import test_pod_health, test_preflight, test_readiness

NOW = datetime(2026, 11, 28, 6, 30, tzinfo=UTC)


@pytest.mark.parametrize("case", test_readiness.CASES, ids=lambda case: case.name)
def test_readiness_is_the_same_on_trimmed_pods_nodes_and_deployment(case: test_readiness.Case) -> None:
    full = assess_candidate(case.pods, case.nodes, case.deployment, AcceleratorResources(), NOW)
    trimmed = assess_candidate(
        [trim_pod(pod) for pod in case.pods],
        [trim_node(node) for node in case.nodes],
        trim_deployment(case.deployment),
        AcceleratorResources(),
        NOW,
    )
    assert trimmed == full


@pytest.mark.parametrize("case", test_pod_health.CASES, ids=lambda case: case.name)
def test_pod_health_is_the_same_on_trimmed_pods(case: test_pod_health.Case) -> None:
    full = assess_pod_health(case.pods, test_pod_health.STARTED, case.max_restarts)
    trimmed = assess_pod_health(
        [trim_pod(pod) for pod in case.pods], test_pod_health.STARTED, case.max_restarts
    )
    assert trimmed == full


@pytest.mark.parametrize("case", test_preflight.CASES, ids=lambda case: case.name)
def test_preflight_is_the_same_on_trimmed_deployments(case: test_preflight.Case) -> None:
    baseline, candidate = test_preflight._deployments(case)
    full = preflight(case.spec(), baseline, candidate)
    trimmed = preflight(case.spec(), trim_deployment(baseline), trim_deployment(candidate))
    assert trimmed == full


# --- whole objects, as the API server sends them -------------------------------------------------

MANAGED_FIELDS = [
    {
        "manager": "kube-controller-manager",
        "operation": "Update",
        "apiVersion": "v1",
        "time": "2026-11-28T06:00:00Z",
        "fieldsType": "FieldsV1",
        "fieldsV1": {"f:metadata": {"f:labels": {".": {}, "f:app": {}}}, "f:spec": {"f:containers": {}}},
    }
]


def api_deployment(name: str, version: str, *, crash_template: bool = False) -> dict[str, Any]:
    container = {
        "name": "server",
        "image": f"registry.example/model-server:{version}",
        "args": [f"--version={version}"],
        "env": [{"name": f"VAR_{i}", "value": "x" * 40} for i in range(20)],
        "ports": [{"containerPort": 8080, "name": "http", "protocol": "TCP"}],
        "resources": {
            "requests": {"cpu": "2", "memory": "8Gi", "nvidia.com/gpu": "1"},
            "limits": {"nvidia.com/gpu": "1"},
        },
        "readinessProbe": {"httpGet": {"path": "/v2/health/ready", "port": 8080}, "periodSeconds": 2},
        "livenessProbe": {"httpGet": {"path": "/healthz", "port": 8080}, "periodSeconds": 10},
        "volumeMounts": [{"name": "models", "mountPath": "/models"}],
        "imagePullPolicy": "IfNotPresent",
    }
    manifest = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name}}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {
            "name": name,
            "namespace": "ml",
            "uid": "0b7c",
            "resourceVersion": "1234",
            "generation": 3,
            "creationTimestamp": "2026-11-28T05:00:00Z",
            "labels": {"app": "fraud"},
            "annotations": {"deployment.kubernetes.io/revision": "3", LAST_APPLIED: json.dumps(manifest)},
            "managedFields": MANAGED_FIELDS,
        },
        "spec": {
            "replicas": 2,
            "selector": {"matchLabels": {"app": "fraud", "version": version}},
            "progressDeadlineSeconds": 1800,
            "revisionHistoryLimit": 10,
            "strategy": {
                "type": "RollingUpdate",
                "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"},
            },
            "template": {
                "metadata": {
                    "labels": {
                        "app": "fraud",
                        "version": version,
                        **({"crash": "yes"} if crash_template else {}),
                    },
                    "annotations": {
                        "kubectl.kubernetes.io/default-container": "server",
                        "prometheus.io/scrape": "true",
                    },
                },
                "spec": {
                    "containers": [container, {"name": "proxy", "image": "envoy", "resources": {}}],
                    "volumes": [{"name": "models", "emptyDir": {}}],
                    "tolerations": [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}],
                    "nodeSelector": {"accelerator": "a100"},
                    "affinity": {
                        "nodeAffinity": {
                            "requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": []}
                        },
                        "podAntiAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": []},
                    },
                    "terminationGracePeriodSeconds": 60,
                    "dnsPolicy": "ClusterFirst",
                    "schedulerName": "default-scheduler",
                },
            },
        },
        "status": {
            "observedGeneration": 3,
            "replicas": 2,
            "updatedReplicas": 2,
            "readyReplicas": 1,
            "availableReplicas": 1,
            "conditions": [
                {
                    "type": "Available",
                    "status": "True",
                    "reason": "MinimumReplicasAvailable",
                    "message": "Deployment has minimum availability.",
                    "lastUpdateTime": "2026-11-28T06:00:00Z",
                    "lastTransitionTime": "2026-11-28T06:00:00Z",
                }
            ],
        },
    }


def api_pod(
    name: str, version: str, node: str | None, *, crash: bool = False, oom: bool = False
) -> dict[str, Any]:
    state: dict[str, Any] = {"running": {"startedAt": "2026-11-28T06:10:00Z"}}
    last: dict[str, Any] = {}
    if crash:
        state = {"waiting": {"reason": "CrashLoopBackOff", "message": "back-off 40s"}}
        last = {"terminated": {"exitCode": 3, "reason": "Error", "finishedAt": "2026-11-28T06:20:00Z"}}
    if oom:
        last = {"terminated": {"exitCode": 137, "reason": "OOMKilled", "finishedAt": "2026-11-28T06:21:00Z"}}
    conditions = [
        {
            "type": "PodScheduled",
            "status": "True",
            "lastProbeTime": None,
            "lastTransitionTime": "2026-11-28T06:05:00Z",
        },
        {"type": "Ready", "status": "False" if crash else "True", "lastProbeTime": None},
    ]
    if node is None:
        conditions = [
            {
                "type": "PodScheduled",
                "status": "False",
                "reason": "Unschedulable",
                "message": "0/2 nodes are available: 2 Insufficient nvidia.com/gpu.",
                "lastProbeTime": None,
                "lastTransitionTime": "2026-11-28T06:05:00Z",
            }
        ]
    template = api_deployment(f"fraud-{version}", version)["spec"]["template"]
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": name,
            "namespace": "ml",
            "uid": "9f1e",
            "resourceVersion": "777",
            "creationTimestamp": "2026-11-28T06:05:00Z",
            "generateName": f"fraud-{version}-5d9f-",
            "labels": {**template["metadata"]["labels"], "pod-template-hash": "5d9f"},
            "annotations": {"kubectl.kubernetes.io/default-container": "server"},
            "ownerReferences": [
                {
                    "apiVersion": "apps/v1",
                    "kind": "ReplicaSet",
                    "name": f"fraud-{version}-5d9f",
                    "uid": "77aa",
                    "controller": True,
                    "blockOwnerDeletion": True,
                }
            ],
            "managedFields": MANAGED_FIELDS,
        },
        "spec": {**template["spec"], **({"nodeName": node} if node else {})},
        "status": {
            "phase": "Running" if node else "Pending",
            "conditions": conditions,
            "hostIP": "10.0.0.1",
            "podIP": "10.244.0.7",
            "qosClass": "Burstable",
            **(
                {
                    "containerStatuses": [
                        {
                            "name": "server",
                            "image": "registry.example/model-server",
                            "imageID": "sha256:abc",
                            "containerID": "containerd://abc",
                            "ready": not crash,
                            "started": not crash,
                            "restartCount": 4 if crash else (1 if oom else 0),
                            "state": state,
                            "lastState": last,
                        }
                    ]
                }
                if node
                else {}
            ),
        },
    }


def api_node(name: str, gpus: int) -> dict[str, Any]:
    allocatable = {"cpu": "32", "memory": "128Gi", "pods": "110", "nvidia.com/gpu": str(gpus)}
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": name,
            "resourceVersion": "5",
            "labels": {"gpu": "yes"},
            "managedFields": MANAGED_FIELDS,
        },
        "spec": {"taints": [{"key": "nvidia.com/gpu", "effect": "NoSchedule"}]},
        "status": {
            "allocatable": allocatable,
            "capacity": allocatable,
            "images": [{"names": [f"image-{i}"], "sizeBytes": i} for i in range(50)],
            "conditions": [{"type": "Ready", "status": "True"}],
        },
    }


ROLLOUT: dict[str, Any] = {
    "apiVersion": "rollouts.modelops.io/v1alpha1",
    "kind": "ModelRollout",
    "metadata": {
        "name": "fraud",
        "namespace": "ml",
        "resourceVersion": "42",
        "generation": 1,
        "annotations": {LAST_APPLIED: "{}", "team": "risk"},
        "managedFields": MANAGED_FIELDS,
    },
    "spec": {
        "baseline": {"deployment": "fraud-v1", "version": "v1"},
        "candidate": {"deployment": "fraud-v2", "version": "v2"},
        "traffic": {"replicas": {}},
        "steps": [{"setWeight": 25}, {"approve": {}}],
    },
}

POD_SETS = {
    "healthy": [api_pod("fraud-v2-5d9f-a", "v2", "gpu-0"), api_pod("fraud-v2-5d9f-b", "v2", "gpu-1")],
    "crash-looping": [api_pod("fraud-v2-5d9f-a", "v2", "gpu-0", crash=True)],
    "oom-killed": [api_pod("fraud-v2-5d9f-a", "v2", "gpu-0", oom=True)],
    "on a node without the GPU": [api_pod("fraud-v2-5d9f-a", "v2", "cpu-0")],
    "unschedulable": [api_pod("fraud-v2-5d9f-a", "v2", None)],
    "node unknown": [api_pod("fraud-v2-5d9f-a", "v2", "gone-0")],
}


@pytest.mark.parametrize("pods", POD_SETS.values(), ids=list(POD_SETS))
def test_the_reconcilers_observation_is_the_same_on_trimmed_api_objects(pods: list[dict[str, Any]]) -> None:
    rollout = ModelRollout.from_wire(ROLLOUT)
    status = ModelRolloutStatus(started_at="2026-11-28T06:00:00Z")
    deployments = {"fraud-v1": api_deployment("fraud-v1", "v1"), "fraud-v2": api_deployment("fraud-v2", "v2")}
    nodes = [api_node("gpu-0", 1), api_node("gpu-1", 1), api_node("cpu-0", 0)]
    others = [api_pod("fraud-v1-5d9f-z", "v1", "gpu-1")]  # the baseline's: not matched by the selector
    full = World(deployment=deployments.get, pods=lambda: [*pods, *others], nodes=lambda: nodes)
    trimmed_deployments = {name: trim_deployment(obj) for name, obj in deployments.items()}
    trimmed = World(
        deployment=trimmed_deployments.get,
        pods=lambda: [trim_pod(pod) for pod in [*pods, *others]],
        nodes=lambda: [trim_node(node) for node in nodes],
    )
    expected = candidate_health(rollout.spec, status, full, NOW)
    assert candidate_health(rollout.spec, status, trimmed, NOW) == expected
    for name, obj in deployments.items():
        gpus = AcceleratorResources()
        assert deployment_state(name, trimmed_deployments[name], gpus) == deployment_state(name, obj, gpus)
        assert deployment_state(name, trimmed_deployments[name], gpus).accelerators == 1
    for pod in [*pods, *others]:
        kept = trim_pod(pod)
        assert deployment_of_pod(kept) == deployment_of_pod(pod) == f"ml/fraud-{pod['metadata']['name'][6:8]}"
        for deployment in deployments.values():
            selector = deployment["spec"]["selector"]
            assert matches(selector, kept["metadata"]["labels"]) == matches(
                selector, pod["metadata"]["labels"]
            )


def test_a_kserve_predictors_controlling_inference_service_survives_the_trim() -> None:
    """The scale-down of a replaced candidate reads it (scale_replaced, docs/kserve.md)."""
    deployment = api_deployment("m2-predictor", "v2")
    owner = {"apiVersion": "serving.kserve.io/v1beta1", "kind": "InferenceService", "name": "m2"}
    deployment["metadata"]["ownerReferences"] = [owner | {"controller": True, "uid": "u-1"}]
    trimmed = trim_deployment(deployment)
    assert trimmed["metadata"]["ownerReferences"] == [owner | {"controller": True}]
    assert controlling_inference_service(trimmed) == controlling_inference_service(deployment) == "m2"


def test_trimmed_objects_are_much_smaller_and_keep_the_cache_keys() -> None:
    pairs = [
        (api_pod("fraud-v2-5d9f-a", "v2", "gpu-0"), trim_pod),
        (api_deployment("fraud-v2", "v2"), trim_deployment),
        (api_node("gpu-0", 1), trim_node),
    ]
    for obj, trim in pairs:
        kept = trim(obj)
        assert kept is not None
        assert len(json.dumps(kept)) < len(json.dumps(obj)) / 2
        for key in ("name", "resourceVersion"):
            assert kept["metadata"][key] == obj["metadata"][key]
        assert kept["metadata"].get("namespace") == obj["metadata"].get("namespace")
        assert "managedFields" not in kept["metadata"]


def test_transforms_never_change_what_they_are_given() -> None:
    objects = [api_pod("p", "v2", "gpu-0", crash=True), api_deployment("d", "v2"), api_node("n", 1), ROLLOUT]
    before = copy.deepcopy(objects)
    for obj, trim in zip(objects, (trim_pod, trim_deployment, trim_node, drop_bookkeeping), strict=True):
        trim(obj)
    assert objects == before


def test_absent_stays_absent() -> None:
    assert trim_pod({"metadata": {"name": "p", "namespace": "ml"}}) == {
        "metadata": {"name": "p", "namespace": "ml"}
    }
    assert trim_deployment({"metadata": {"name": "d"}}) == {"metadata": {"name": "d"}}
    assert trim_node({"metadata": {"name": "n"}}) == {"metadata": {"name": "n"}}


def test_rollouts_and_routes_lose_only_managed_fields_and_the_last_applied_annotation() -> None:
    kept = drop_bookkeeping(ROLLOUT)
    assert kept["metadata"]["annotations"] == {"team": "risk"}
    assert "managedFields" not in kept["metadata"]
    assert {**kept, "metadata": {}} == {**ROLLOUT, "metadata": {}}
    parsed, original = ModelRollout.from_wire(kept), ModelRollout.from_wire(ROLLOUT)
    assert (parsed.spec, parsed.status) == (original.spec, original.status)
    plain = {"metadata": {"name": "r"}, "spec": {}}
    assert drop_bookkeeping(plain) is plain


def test_the_cache_keeps_what_the_handover_reads() -> None:
    hpa = {
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": {"name": "model", "namespace": "ml", "resourceVersion": "7", "managedFields": [{}]},
        "spec": {
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "model-v1"},
            "minReplicas": 2,
            "maxReplicas": 10,
            "metrics": [{"type": "Resource"}],
        },
        "status": {"currentReplicas": 6, "desiredReplicas": 6},
    }
    trimmed = trim_autoscaler(hpa)
    assert (
        autoscaler_of(trimmed)
        == autoscaler_of(hpa)
        == Autoscaler(name="model", target="model-v1", min_replicas=2, max_replicas=10)
    )
    assert set(trimmed) == {"metadata", "spec"} and "managedFields" not in trimmed["metadata"]


def test_the_cache_keeps_a_scaled_objects_bounds_and_kedas_hpa_owner() -> None:
    owner = {"apiVersion": "keda.sh/v1alpha1", "kind": "ScaledObject", "name": "model", "uid": "u1"}
    scaled_object = {
        "metadata": {"name": "model", "namespace": "ml", "managedFields": [{}]},
        "spec": {
            "scaleTargetRef": {"name": "model-v1"},
            "minReplicaCount": 2,
            "maxReplicaCount": 9,
            "triggers": [],
        },
        "status": {"hpaName": "keda-hpa-model"},
    }
    kedas_hpa = {
        "metadata": {"name": "keda-hpa-model", "namespace": "ml", "ownerReferences": [owner]},
        "spec": {
            "scaleTargetRef": {"kind": "Deployment", "name": "model-v1"},
            "minReplicas": 2,
            "maxReplicas": 9,
        },
    }
    for obj, kind in ((scaled_object, AutoscalerKind.SCALED_OBJECT), (kedas_hpa, AutoscalerKind.HPA)):
        assert autoscaler_of(trim_autoscaler(obj), kind) == autoscaler_of(obj, kind)
    assert autoscaler_of(trim_autoscaler(scaled_object), AutoscalerKind.SCALED_OBJECT).max_replicas == 9
    assert autoscaler_of(trim_autoscaler(kedas_hpa)).owner == "model"
    assert "triggers" not in trim_autoscaler(scaled_object)["spec"]
