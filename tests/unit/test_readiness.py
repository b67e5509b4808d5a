"""Candidate readiness: Deployment availability, accelerators on nodes, unschedulable pods."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pytest

from rollouts.guardrails.accelerators import AcceleratorResources
from rollouts.guardrails.readiness import NodeCapacity, ReadinessReason, assess_candidate

NOW = datetime(2026, 11, 28, 6, 30, tzinfo=UTC)
TEN_MINUTES_AGO = "2026-11-28T06:20:00Z"

INSUFFICIENT_GPU = "0/3 nodes are available: 1 Insufficient cpu, 2 Insufficient nvidia.com/gpu."
REAL_SCHEDULER_MESSAGE = (
    "0/3 nodes are available: 1 node(s) had untolerated taint {node-role.kubernetes.io/control-plane: }, "
    "2 Insufficient nvidia.com/gpu. preemption: 0/3 nodes are available: 1 Preemption is not helpful "
    "for scheduling, 2 No preemption victims found for incoming pod."
)


def deployment(
    replicas: int = 2,
    updated: int = 2,
    available: int = 2,
    total: int | None = None,
    condition: str | None = "True",
    generation: int = 3,
    observed: int = 3,
) -> dict[str, Any]:
    conditions = []
    if condition is not None:
        conditions.append(
            {
                "type": "Available",
                "status": condition,
                "reason": "MinimumReplicasAvailable" if condition == "True" else "MinimumReplicasUnavailable",
                "message": "Deployment has minimum availability."
                if condition == "True"
                else "Deployment does not have minimum availability.",
            }
        )
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "fraud-scorer-v2", "namespace": "ml", "generation": generation},
        "spec": {"replicas": replicas},
        "status": {
            "observedGeneration": observed,
            "replicas": updated if total is None else total,
            "updatedReplicas": updated,
            "readyReplicas": available,
            "availableReplicas": available,
            "conditions": conditions,
        },
    }


def node(name: str, gpus: int | None) -> dict[str, Any]:
    allocatable: dict[str, Any] = {"cpu": "15890m", "memory": "60Gi", "pods": "110"}
    if gpus is not None:
        allocatable["nvidia.com/gpu"] = str(gpus)
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {"name": name},
        "status": {"allocatable": allocatable},
    }


def pod(
    name: str,
    on: str | None = "gpu-a",
    gpus: int = 1,
    resource: str = "nvidia.com/gpu",
    unschedulable: str | None = None,
    ready: bool = True,
    waiting: tuple[str, str] | None = None,
    running_since: str | None = None,
    deleting: bool = False,
) -> dict[str, Any]:
    limits: dict[str, Any] = {"memory": "16Gi"}
    if gpus:
        limits[resource] = gpus
    metadata: dict[str, Any] = {"name": name, "creationTimestamp": TEN_MINUTES_AGO}
    if deleting:
        metadata["deletionTimestamp"] = "2026-11-28T06:29:00Z"
    spec: dict[str, Any] = {"containers": [{"name": "model-server", "resources": {"limits": limits}}]}
    status: dict[str, Any] = {"phase": "Pending" if on is None else "Running"}
    if on is not None:
        spec["nodeName"] = on
        state: dict[str, Any] = {"running": {"startedAt": running_since or TEN_MINUTES_AGO}}
        if waiting is not None:
            state = {"waiting": {"reason": waiting[0], "message": waiting[1]}}
        status["containerStatuses"] = [
            {"name": "model-server", "ready": ready, "restartCount": 0, "state": state}
        ]
    elif unschedulable is not None:
        status["conditions"] = [
            {
                "type": "PodScheduled",
                "status": "False",
                "reason": "Unschedulable",
                "message": unschedulable,
                "lastTransitionTime": TEN_MINUTES_AGO,
            }
        ]
    return {"apiVersion": "v1", "kind": "Pod", "metadata": metadata, "spec": spec, "status": status}


GPU_NODES = [node("gpu-a", 1), node("gpu-b", 1), node("cpu-a", None)]


@dataclass(frozen=True)
class Case:
    name: str
    pods: list[dict[str, Any]]
    expected: list[ReadinessReason]
    deployment: dict[str, Any] = field(default_factory=deployment)
    nodes: list[dict[str, Any]] = field(default_factory=lambda: GPU_NODES)
    message: str = ""


CASES = [
    Case("ready", [pod("p1", "gpu-a"), pod("p2", "gpu-b")], []),
    Case("cpu model on a cpu node", [pod("p1", "cpu-a", gpus=0), pod("p2", "cpu-a", gpus=0)], []),
    Case(
        "not available",
        [pod("p1"), pod("p2", "gpu-b")],
        [ReadinessReason.DEPLOYMENT_NOT_AVAILABLE, ReadinessReason.REPLICAS_NOT_READY],
        deployment=deployment(available=1, condition="False"),
        message="Deployment fraud-scorer-v2 is not Available: Deployment does not have minimum availability.",
    ),
    Case(
        "no conditions yet",
        [],
        [ReadinessReason.DEPLOYMENT_NOT_AVAILABLE, ReadinessReason.REPLICAS_NOT_READY],
        deployment=deployment(updated=0, available=0, condition=None),
        message="no Available condition yet",
    ),
    Case(
        "new spec not observed",
        [pod("p1"), pod("p2", "gpu-b")],
        [ReadinessReason.DEPLOYMENT_NOT_AVAILABLE],
        deployment=deployment(generation=4, observed=3),
        message="generation 4 not yet observed",
    ),
    Case(
        "available but not all replicas",
        [pod("p1")],
        [ReadinessReason.REPLICAS_NOT_READY],
        deployment=deployment(replicas=3, updated=3, available=2),
        message="2/3 replicas available, 3/3 updated",
    ),
    Case(
        "old template still running",
        [pod("p1"), pod("p2", "gpu-b")],
        [ReadinessReason.REPLICAS_NOT_READY],
        deployment=deployment(total=3),
        message="1 of an older template still running",
    ),
    Case(
        "scaled to zero",
        [],
        [ReadinessReason.REPLICAS_NOT_READY],
        deployment=deployment(replicas=0, updated=0, available=0),
        message="scaled to 0",
    ),
    Case(
        "gpu pod on a cpu node",
        [pod("p1", "cpu-a"), pod("p2", "gpu-b")],
        [ReadinessReason.ACCELERATOR_NOT_ON_NODE],
        message="pod p1 asks for 1 nvidia.com/gpu but runs on node cpu-a, whose allocatable has 0",
    ),
    Case(
        "two gpus on a one-gpu node",
        [pod("p1", "gpu-a", gpus=2), pod("p2", "gpu-b")],
        [ReadinessReason.ACCELERATOR_NOT_ON_NODE],
    ),
    Case(
        "node not seen",
        [pod("p1", "gpu-z"), pod("p2", "gpu-b")],
        [ReadinessReason.NODE_NOT_FOUND],
    ),
    Case(
        "cpu pod on a node not seen needs no check",
        [pod("p1", "gone", gpus=0), pod("p2", "gone", gpus=0)],
        [],
    ),
    Case(
        "insufficient gpu, all taken",
        [pod("p1"), pod("p3", on=None, unschedulable=INSUFFICIENT_GPU)],
        [ReadinessReason.INSUFFICIENT_ACCELERATOR, ReadinessReason.REPLICAS_NOT_READY],
        deployment=deployment(replicas=2, updated=2, available=1),
        message="allocatable nvidia.com/gpu: gpu-a=1, gpu-b=1, all taken by other pods",
    ),
    Case(
        "insufficient gpu, no gpu nodes",
        [pod("p3", on=None, unschedulable=REAL_SCHEDULER_MESSAGE)],
        [ReadinessReason.INSUFFICIENT_ACCELERATOR, ReadinessReason.REPLICAS_NOT_READY],
        deployment=deployment(replicas=1, updated=1, available=0),
        nodes=[node("cpu-a", None), node("cpu-b", 0)],
        message="none of the 2 nodes seen offers nvidia.com/gpu",
    ),
    Case(
        "insufficient gpu, no node large enough",
        [pod("p3", on=None, gpus=4, unschedulable=INSUFFICIENT_GPU)],
        [ReadinessReason.INSUFFICIENT_ACCELERATOR, ReadinessReason.REPLICAS_NOT_READY],
        deployment=deployment(replicas=1, updated=1, available=0),
        message="no node offers 4 (allocatable nvidia.com/gpu: gpu-a=1, gpu-b=1)",
    ),
    Case(
        "insufficient mig slice",
        [
            pod(
                "p3",
                on=None,
                resource="nvidia.com/mig-1g.5gb",
                unschedulable="0/2 nodes are available: 2 Insufficient nvidia.com/mig-1g.5gb.",
            )
        ],
        [ReadinessReason.INSUFFICIENT_ACCELERATOR, ReadinessReason.REPLICAS_NOT_READY],
        deployment=deployment(replicas=1, updated=1, available=0),
        message="asks for 1 nvidia.com/mig-1g.5gb",
    ),
    Case(
        "insufficient cpu only",
        [pod("p3", on=None, unschedulable="0/3 nodes are available: 3 Insufficient cpu.")],
        [ReadinessReason.UNSCHEDULABLE, ReadinessReason.REPLICAS_NOT_READY],
        deployment=deployment(replicas=1, updated=1, available=0),
        message="pod p3 cannot be scheduled: 0/3 nodes are available: 3 Insufficient cpu.",
    ),
    Case(
        "pending before the scheduler looked",
        [pod("p3", on=None)],
        [ReadinessReason.REPLICAS_NOT_READY],
        deployment=deployment(replicas=1, updated=1, available=0),
    ),
    Case(
        "terminating pods are ignored",
        [pod("p1"), pod("p2", "gpu-b"), pod("old", "cpu-a", deleting=True)],
        [],
    ),
    Case(
        "image pull back-off",
        [pod("p1"), pod("p2", "gpu-b", ready=False, waiting=("ImagePullBackOff", 'Back-off pulling "x"'))],
        [ReadinessReason.CONTAINER_NOT_READY, ReadinessReason.REPLICAS_NOT_READY],
        deployment=deployment(available=1),
        message='container model-server of pod p2 is waiting: ImagePullBackOff: Back-off pulling "x"',
    ),
    Case(
        "container being created is on its way",
        [pod("p1"), pod("p2", "gpu-b", ready=False, waiting=("ContainerCreating", ""))],
        [ReadinessReason.REPLICAS_NOT_READY],
        deployment=deployment(available=1),
    ),
    Case(
        "model still loading",
        [pod("p1"), pod("p2", "gpu-b", ready=False)],
        [ReadinessReason.CONTAINER_NOT_READY, ReadinessReason.REPLICAS_NOT_READY],
        deployment=deployment(available=1),
        message="has run for 600s without passing its readinessProbe",
    ),
]


@pytest.mark.parametrize("case", CASES, ids=lambda case: case.name)
def test_readiness(case: Case) -> None:
    readiness = assess_candidate(case.pods, case.nodes, case.deployment, AcceleratorResources(), NOW)
    assert [p.reason for p in readiness.problems] == case.expected, [p.message for p in readiness.problems]
    assert readiness.ready is (not case.expected)
    if case.message:
        assert any(case.message in p.message for p in readiness.problems), [
            p.message for p in readiness.problems
        ]


def test_unschedulable_pod_reports_what_the_controller_needs_at_the_deadline() -> None:
    pending = pod("fraud-scorer-v2-7d9f-x", on=None, unschedulable=INSUFFICIENT_GPU)
    readiness = assess_candidate(
        [pending], GPU_NODES, deployment(replicas=1, updated=1, available=0), AcceleratorResources(), NOW
    )
    (problem,) = readiness.unschedulable
    assert problem.reason is ReadinessReason.INSUFFICIENT_ACCELERATOR
    assert problem.pod == "fraud-scorer-v2-7d9f-x"
    assert problem.resource == "nvidia.com/gpu"
    assert problem.requested == 1
    assert problem.capacity == (NodeCapacity("gpu-a", 1), NodeCapacity("gpu-b", 1), NodeCapacity("cpu-a", 0))
    assert problem.since_seconds == 600
    assert INSUFFICIENT_GPU in problem.message
    assert readiness.summary() == problem.message + " (and 1 more)"
    assert problem.as_json()["capacity"][0] == {"node": "gpu-a", "allocatable": 1}
    assert problem.as_json()["sinceSeconds"] == 600


def test_wrong_node_names_pod_node_and_resource() -> None:
    readiness = assess_candidate(
        [pod("p1", "cpu-a"), pod("p2", "gpu-b")], GPU_NODES, deployment(), AcceleratorResources(), NOW
    )
    (problem,) = readiness.problems
    assert (problem.pod, problem.node, problem.resource, problem.requested) == (
        "p1",
        "cpu-a",
        "nvidia.com/gpu",
        1,
    )
    assert problem.capacity == (NodeCapacity("cpu-a", 0),)
    assert problem.as_json() == {
        "reason": "AcceleratorNotOnNode",
        "message": problem.message,
        "pod": "p1",
        "node": "cpu-a",
        "resource": "nvidia.com/gpu",
        "requested": 1,
        "capacity": [{"node": "cpu-a", "allocatable": 0}],
    }


def test_many_nodes_are_summarised_in_the_message() -> None:
    nodes = [node(f"gpu-{i}", 8) for i in range(7)]
    pending = pod("p", on=None, unschedulable=INSUFFICIENT_GPU)
    readiness = assess_candidate([pending], nodes, deployment(replicas=1), AcceleratorResources(), NOW)
    assert "gpu-4=8 and 2 more" in readiness.problems[0].message
    assert len(readiness.problems[0].capacity) == 7


def test_ready_summary() -> None:
    readiness = assess_candidate(
        [pod("p1"), pod("p2", "gpu-b")], GPU_NODES, deployment(), AcceleratorResources(), NOW
    )
    assert readiness.summary() == "2/2 replicas available on their accelerators"


def inference_service(status: str | None, reason: str = "", message: str = "") -> dict[str, Any]:
    """A raw-mode InferenceService whose PredictorReady is ``status`` (None: no condition yet)."""
    predictor = {"type": "PredictorReady", "status": status, "reason": reason, "message": message}
    ingress = {"type": "IngressReady", "status": "False", "reason": "NoIngress"}  # KServe's own
    conditions = [ingress] + ([predictor] if status is not None else [])
    return {"metadata": {"name": "fraud-scorer-v2"}, "status": {"conditions": conditions}}


@pytest.mark.parametrize(
    ("isvc", "said"),
    [
        (
            inference_service(
                "False", "MinimumReplicasUnavailable", "Deployment does not have minimum availability."
            ),
            "InferenceService fraud-scorer-v2 is not PredictorReady: MinimumReplicasUnavailable: "
            "Deployment does not have minimum availability.",
        ),
        (inference_service(None), "InferenceService fraud-scorer-v2 is not PredictorReady: no condition yet"),
    ],
)
def test_a_candidate_inference_service_waits_for_predictor_ready(isvc: dict[str, Any], said: str) -> None:
    """The predictor Deployment is ready, KServe has not said so yet: no traffic, and the
    condition names the InferenceService and KServe's reason."""
    pods = [pod("p1"), pod("p2", "gpu-b")]
    readiness = assess_candidate(
        pods, GPU_NODES, deployment(), AcceleratorResources(), NOW, inference_service=isvc
    )
    assert not readiness.ready
    assert readiness.problems[0].reason is ReadinessReason.PREDICTOR_NOT_READY
    assert readiness.summary() == said


def test_predictor_ready_is_enough_without_kserves_ingress() -> None:
    """IngressReady False (KServe's ingress unused with the Gateway API router) does not block."""
    pods = [pod("p1"), pod("p2", "gpu-b")]
    isvc = inference_service("True")
    readiness = assess_candidate(
        pods, GPU_NODES, deployment(), AcceleratorResources(), NOW, inference_service=isvc
    )
    assert readiness.ready
