"""Candidate readiness: up, and every pod on a node that has the accelerator it asks for.

The controller moves no traffic until the candidate is ready, and fails the rollout when it is
not ready by ``progressDeadline``. "Ready" here is stricter than Kubernetes' Available:

- the Deployment has observed its latest spec, reports ``Available=True``, and every desired
  replica is updated and available, with no pod of an older template left;
- each candidate pod that asks for an accelerator runs on a node whose allocatable has that
  many of it (a pod placed by ``nodeName``, or on a node whose device plugin died, can run
  without its device, and the model then loads on CPU);
- no pod is Pending as unschedulable, and no container is stuck waiting or not ready;
- when the rollout names a KServe InferenceService, its ``PredictorReady`` condition is True
  (:data:`PREDICTOR_READY`).

Whatever falls short is a :class:`ReadinessProblem` naming the pod, node and resource, so the
controller can fail the rollout at its deadline with that reason. A pod Pending because the
scheduler found "0/2 nodes are available: 2 Insufficient nvidia.com/gpu." is reported with the
allocatable of that resource on every node seen, which tells the two common causes apart: no
node offers the device at all (no GPU nodes, or no device plugin), or every device is taken
(the baseline keeps its GPUs until the rollout ends, so a canary needs spare ones).

Pure: the caller passes the candidate Deployment, its pods (those its selector matches) and
the nodes, as the API server returns them, ``now``, and the InferenceService when one is named.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from rollouts.guardrails.accelerators import AcceleratorResources, pod_demand
from rollouts.guardrails.objects import KubeObject, mapping, mappings, moment, name_of, number, text, value
from rollouts.guardrails.quantities import InvalidQuantityError, parse_quantity

_INSUFFICIENT = re.compile(r"Insufficient ([A-Za-z0-9][-A-Za-z0-9_./]*[A-Za-z0-9])")
"""The scheduler's "Insufficient <resource>" phrase in a PodScheduled=False message."""

STARTING_REASONS = frozenset({"ContainerCreating", "PodInitializing"})
"""Waiting reasons of a container that is on its way up; any other names a fault."""

_NODES_NAMED_IN_MESSAGES = 5


class ReadinessReason(StrEnum):
    """Why the candidate is not ready; CamelCase, usable as a condition reason."""

    DEPLOYMENT_NOT_AVAILABLE = "DeploymentNotAvailable"
    REPLICAS_NOT_READY = "ReplicasNotReady"
    INSUFFICIENT_ACCELERATOR = "InsufficientAccelerator"
    UNSCHEDULABLE = "Unschedulable"
    ACCELERATOR_NOT_ON_NODE = "AcceleratorNotOnNode"
    NODE_NOT_FOUND = "NodeNotFound"
    CONTAINER_NOT_READY = "ContainerNotReady"
    PREDICTOR_NOT_READY = "PredictorNotReady"


PREDICTOR_READY = "PredictorReady"
"""The InferenceService condition a candidate InferenceService needs True.

Decision — ``PredictorReady``, not ``Ready``: KServe's ``Ready`` also needs ``IngressReady``,
which reflects KServe's own ingress (an Ingress, or its HTTPRoute when KServe's Gateway API
support is on); with the Gateway API router the rollout routes through the user's HTTPRoute, so
KServe's ingress may be absent or not ready without the predictor serving any less. KServe
derives ``PredictorReady`` in raw mode from the predictor Deployment's ``Available``
(docs/kserve.md), and says why not in its reason and message."""


@dataclass(frozen=True)
class NodeCapacity:
    """How many of a resource a node offers to pods (``status.allocatable``)."""

    node: str
    allocatable: int


@dataclass(frozen=True)
class ReadinessProblem:
    """One reason the candidate is not ready, with the pod, node and resource it concerns."""

    reason: ReadinessReason
    message: str
    pod: str | None = None
    node: str | None = None
    resource: str | None = None
    requested: int | None = None
    capacity: tuple[NodeCapacity, ...] = ()
    since_seconds: float | None = None
    """How long the pod has been in this state, when Kubernetes records since when."""

    def as_json(self) -> dict[str, Any]:
        """Plain data for status, logs and ``-o json``; unset fields left out."""
        data: dict[str, Any] = {"reason": str(self.reason), "message": self.message}
        optional = {
            "pod": self.pod,
            "node": self.node,
            "resource": self.resource,
            "requested": self.requested,
            "sinceSeconds": self.since_seconds,
        }
        data.update({key: item for key, item in optional.items() if item is not None})
        if self.capacity:
            data["capacity"] = [{"node": c.node, "allocatable": c.allocatable} for c in self.capacity]
        return data


@dataclass(frozen=True)
class CandidateReadiness:
    """The candidate's replica counts and every problem standing between it and traffic."""

    desired_replicas: int
    updated_replicas: int
    available_replicas: int
    problems: tuple[ReadinessProblem, ...]

    @property
    def ready(self) -> bool:
        """True when traffic may move to the candidate."""
        return not self.problems

    @property
    def unschedulable(self) -> tuple[ReadinessProblem, ...]:
        """Pods the scheduler cannot place: at progressDeadline these fail the rollout."""
        placement = (ReadinessReason.INSUFFICIENT_ACCELERATOR, ReadinessReason.UNSCHEDULABLE)
        return tuple(p for p in self.problems if p.reason in placement)

    def summary(self) -> str:
        """One line for a condition message: the first problem, and how many others there are."""
        if not self.problems:
            return (
                f"{self.available_replicas}/{self.desired_replicas} replicas available on their accelerators"
            )
        more = len(self.problems) - 1
        return self.problems[0].message + (f" (and {more} more)" if more else "")


def assess_candidate(
    pods: Sequence[KubeObject],
    nodes: Sequence[KubeObject],
    deployment: KubeObject,
    accelerators: AcceleratorResources,
    now: datetime,
    *,
    inference_service: KubeObject | None = None,
) -> CandidateReadiness:
    """Judge whether the candidate is ready for traffic; pod problems come first (they say why).

    ``inference_service``: the candidate's InferenceService, when the rollout names one.
    """
    by_name = {name_of(node): node for node in nodes}
    problems = [
        problem
        for pod in pods
        if value(pod, "metadata", "deletionTimestamp") is None
        for problem in _pod_problems(pod, by_name, accelerators, now)
    ]
    status = mapping(deployment, "status")
    desired = number(deployment, "spec", "replicas", default=1)
    updated = number(status, "updatedReplicas", default=0)
    available = number(status, "availableReplicas", default=0)
    problems.extend(_deployment_problems(deployment, desired, updated, available))
    if inference_service is not None:
        problems.extend(_predictor_problems(inference_service))
    return CandidateReadiness(desired, updated, available, tuple(problems))


def _predictor_problems(isvc: KubeObject) -> Iterator[ReadinessProblem]:
    condition = _condition(mapping(isvc, "status"), PREDICTOR_READY)
    if text(condition, "status") == "True":
        return
    said = ": ".join(part for part in (text(condition, "reason"), text(condition, "message")) if part)
    yield ReadinessProblem(
        ReadinessReason.PREDICTOR_NOT_READY,
        f"InferenceService {name_of(isvc)} is not {PREDICTOR_READY}: {said or 'no condition yet'}",
    )


def _deployment_problems(
    deployment: KubeObject, desired: int, updated: int, available: int
) -> Iterator[ReadinessProblem]:
    name = name_of(deployment)
    status = mapping(deployment, "status")
    generation = number(deployment, "metadata", "generation", default=0)
    observed = number(status, "observedGeneration", default=0)
    if observed < generation:
        yield ReadinessProblem(
            ReadinessReason.DEPLOYMENT_NOT_AVAILABLE,
            f"Deployment {name}: generation {generation} not yet observed by the Deployment "
            f"controller (observed {observed})",
        )
        return
    condition = _condition(status, "Available")
    if text(condition, "status") != "True":
        said = text(condition, "message") or "no Available condition yet"
        yield ReadinessProblem(
            ReadinessReason.DEPLOYMENT_NOT_AVAILABLE, f"Deployment {name} is not Available: {said}"
        )
    old = number(status, "replicas", default=0) - updated
    if desired == 0:
        yield ReadinessProblem(ReadinessReason.REPLICAS_NOT_READY, f"Deployment {name} is scaled to 0")
    elif updated < desired or available < desired or old > 0:
        yield ReadinessProblem(
            ReadinessReason.REPLICAS_NOT_READY,
            f"Deployment {name}: {available}/{desired} replicas available, {updated}/{desired} updated"
            + (f", {old} of an older template still running" if old > 0 else ""),
        )


def _condition(status: KubeObject, kind: str) -> KubeObject:
    return next((c for c in mappings(status, "conditions") if text(c, "type") == kind), {})


def allocatable(node: KubeObject, resource: str) -> int:
    """Whole devices of ``resource`` the node offers; an unreadable amount offers none."""
    try:
        return int(parse_quantity(value(node, "status", "allocatable", resource) or 0))
    except InvalidQuantityError:
        return 0


def _pod_problems(
    pod: KubeObject,
    nodes: dict[str, KubeObject],
    accelerators: AcceleratorResources,
    now: datetime,
) -> Iterator[ReadinessProblem]:
    demand = pod_demand(mapping(pod, "spec"), accelerators)
    if not text(pod, "spec", "nodeName"):
        yield from _unscheduled(pod, demand, nodes.values(), accelerators, now)
        return
    yield from _devices_on_node(pod, demand, nodes)
    yield from _containers_not_ready(pod, now)


def _devices_on_node(
    pod: KubeObject, demand: dict[str, int], nodes: dict[str, KubeObject]
) -> Iterator[ReadinessProblem]:
    """The node a pod runs on offers the accelerators the pod asks for."""
    name = name_of(pod)
    node_name = text(pod, "spec", "nodeName")
    node = nodes.get(node_name)
    if node is None:
        if demand:
            yield ReadinessProblem(
                ReadinessReason.NODE_NOT_FOUND,
                f"pod {name} runs on node {node_name}, which is not among the nodes seen: "
                "its accelerators cannot be checked",
                pod=name,
                node=node_name,
            )
        return
    for resource, count in sorted(demand.items()):
        offered = allocatable(node, resource)
        if offered < count:
            yield ReadinessProblem(
                ReadinessReason.ACCELERATOR_NOT_ON_NODE,
                f"pod {name} asks for {count} {resource} but runs on node {node_name}, whose "
                f"allocatable has {offered}: the model would run without its accelerator",
                pod=name,
                node=node_name,
                resource=resource,
                requested=count,
                capacity=(NodeCapacity(node_name, offered),),
            )


def _unscheduled(
    pod: KubeObject,
    demand: dict[str, int],
    nodes: Iterable[KubeObject],
    accelerators: AcceleratorResources,
    now: datetime,
) -> Iterator[ReadinessProblem]:
    scheduled = _condition(mapping(pod, "status"), "PodScheduled")
    if text(scheduled, "status") != "False" or text(scheduled, "reason") != "Unschedulable":
        return
    name = name_of(pod)
    said = text(scheduled, "message")
    since = moment(scheduled, "lastTransitionTime") or moment(pod, "metadata", "creationTimestamp")
    waited = (now - since).total_seconds() if since is not None else None
    short = [r for r in dict.fromkeys(_INSUFFICIENT.findall(said)) if accelerators.matches(r)]
    if not short:
        yield ReadinessProblem(
            ReadinessReason.UNSCHEDULABLE,
            f"pod {name} cannot be scheduled: {said}",
            pod=name,
            since_seconds=waited,
        )
        return
    for resource in short:
        count = demand.get(resource, 0)
        capacity = tuple(NodeCapacity(name_of(node), allocatable(node, resource)) for node in nodes)
        yield ReadinessProblem(
            ReadinessReason.INSUFFICIENT_ACCELERATOR,
            f"pod {name} cannot be scheduled: it asks for {count} {resource} and the scheduler "
            f'says "{said}"; {_capacity_words(resource, count, capacity)}',
            pod=name,
            resource=resource,
            requested=count,
            capacity=capacity,
            since_seconds=waited,
        )


def _capacity_words(resource: str, count: int, capacity: Sequence[NodeCapacity]) -> str:
    """What the nodes offer, and what that means: no such device at all, or all devices taken."""
    offering = [c for c in capacity if c.allocatable > 0]
    if not offering:
        return (
            f"none of the {len(capacity)} nodes seen offers {resource}: add nodes with it, or check "
            "that its device plugin runs on them"
        )
    named = ", ".join(f"{c.node}={c.allocatable}" for c in offering[:_NODES_NAMED_IN_MESSAGES])
    if len(offering) > _NODES_NAMED_IN_MESSAGES:
        named += f" and {len(offering) - _NODES_NAMED_IN_MESSAGES} more"
    if not any(c.allocatable >= count for c in offering):
        return f"no node offers {count} (allocatable {resource}: {named})"
    return (
        f"allocatable {resource}: {named}, all taken by other pods (the baseline keeps its own until "
        "the rollout ends): add capacity or lower the candidate's replicas"
    )


def _containers_not_ready(pod: KubeObject, now: datetime) -> Iterator[ReadinessProblem]:
    name = name_of(pod)
    node = text(pod, "spec", "nodeName")
    for status in mappings(pod, "status", "containerStatuses"):
        if value(status, "ready") is True:
            continue
        container = text(status, "name")
        waiting = mapping(status, "state", "waiting")
        started = moment(status, "state", "running", "startedAt")
        if waiting and text(waiting, "reason") not in STARTING_REASONS:
            said = ": ".join(part for part in (text(waiting, "reason"), text(waiting, "message")) if part)
            yield ReadinessProblem(
                ReadinessReason.CONTAINER_NOT_READY,
                f"container {container} of pod {name} is waiting: {said}",
                pod=name,
                node=node,
            )
        elif started is not None:
            running = (now - started).total_seconds()
            yield ReadinessProblem(
                ReadinessReason.CONTAINER_NOT_READY,
                f"container {container} of pod {name} has run for {running:.0f}s without passing its "
                "readinessProbe: the model is still loading, or failed to",
                pod=name,
                node=node,
                since_seconds=running,
            )
