"""Preflight for a GPU budget: whether the nodes hold the candidate pods the budgeted plan adds.

Why: under ``spec.capacity`` the rollout adds at most ``min(s, b)`` candidate pods beyond the
pods the baseline frees (rollouts.controller.core.capacity), and the first of them must be
scheduled before the baseline gives anything up. When the nodes the candidate may use have no
room for them, the candidate stays Pending until ``progressDeadline`` with the scheduler's
"Insufficient" message; this says so before any traffic moves, with the numbers: pods needed,
what one asks for, what is free on each node.

Free on a node, for each accelerator resource the candidate's pod asks for, is its allocatable
minus the requests of the pods placed on it, except the candidate's own (they are the plan's
pods). Placement as far as the guardrails read it: the pod template's ``nodeSelector`` against
node labels, and nodes not marked unschedulable; affinity and taints are not evaluated
(preflight's AcceleratorPlacementChanged compares them with the baseline's). The controller's
pod cache holds only the pods of the rollouts it serves, so other workloads' requests are not
seen: the check is optimistic and refuses only what cannot fit even so.

A budget in accelerators smaller than one pod's request admits no candidate pod at all, which
is said here too.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from rollouts.api.spec import MaxSurge
from rollouts.guardrails.accelerators import AcceleratorResources, pod_demand
from rollouts.guardrails.objects import KubeObject, mapping, name_of, pod_spec_of, text, value
from rollouts.guardrails.readiness import allocatable

_FINISHED = frozenset({"Succeeded", "Failed"})
_NODES_NAMED = 5


def surge_in_pods(surge: MaxSurge, per_pod: int) -> int:
    """``maxSurge`` in pods: as given, or accelerators over ``per_pod`` (a pod asking none counts as one)."""
    if surge.pods is not None:
        return surge.pods
    return (surge.accelerators or 0) // max(per_pod, 1)


def budget_problem(
    surge: MaxSurge,
    *,
    baseline_replicas: int,
    baseline: KubeObject,
    candidate: KubeObject,
    nodes: Iterable[KubeObject],
    others: Iterable[KubeObject],
    accelerators: AcceleratorResources,
) -> str | None:
    """Why the nodes cannot hold the budget's candidate pods (None: they can, as far as seen).

    ``others``: the pods that are not the candidate's, whose requests take room on their nodes.
    """
    demand = pod_demand(pod_spec_of(candidate), accelerators)
    per_pod = max(sum(demand.values()), sum(pod_demand(pod_spec_of(baseline), accelerators).values()))
    pods = surge_in_pods(surge, per_pod)
    if pods < 1:
        return (
            f"spec.capacity.maxSurge.accelerators {surge.accelerators} is less than one pod's request "
            f"({per_pod}): no candidate pod fits in the budget; set it to at least {per_pod}"
        )
    if not demand:
        return None
    needed = min(pods, max(baseline_replicas, 1))
    selector = {str(key): str(item) for key, item in mapping(pod_spec_of(candidate), "nodeSelector").items()}
    taken = _requested(others, accelerators)
    fits = 0
    seen: list[str] = []
    for node in nodes:
        labels = mapping(node, "metadata", "labels")
        if value(node, "spec", "unschedulable") is True or any(
            labels.get(k) != v for k, v in selector.items()
        ):
            continue
        name = name_of(node)
        free = {resource: allocatable(node, resource) - taken.get((name, resource), 0) for resource in demand}
        fits += min(max(free[resource], 0) // count for resource, count in demand.items())
        seen.append(f"{name} {', '.join(f'{count} {resource}' for resource, count in free.items())}")
    if fits >= needed:
        return None
    where = f"nodes matching nodeSelector {selector}" if selector else "the nodes"
    free_words = "; ".join(seen[:_NODES_NAMED]) + (
        f"; {len(seen) - _NODES_NAMED} more" if len(seen) > _NODES_NAMED else ""
    )
    asks = ", ".join(f"{count} {resource}" for resource, count in demand.items())
    return (
        f"the GPU budget needs room for {needed} candidate pod(s) of {asks} on {where}, and "
        f"{fits} fit (free: {free_words or 'no such node'}): free accelerators there, or lower "
        "spec.capacity.maxSurge"
    )


def _requested(
    pods: Iterable[KubeObject], accelerators: AcceleratorResources
) -> Mapping[tuple[str, str], int]:
    """Accelerators requested per (node, resource) by pods placed and not finished."""
    taken: dict[tuple[str, str], int] = {}
    for pod in pods:
        node = text(pod, "spec", "nodeName")
        if not node or text(pod, "status", "phase") in _FINISHED:
            continue
        for resource, count in pod_demand(mapping(pod, "spec"), accelerators).items():
            taken[(node, resource)] = taken.get((node, resource), 0) + count
    return taken
