"""What the controller's caches keep of each object: exactly the fields the controller reads.

Why: an informer's cache holds every object of its resource, as the API server sends it. Most
of a Pod or Deployment is of no use to a rollout — ``managedFields`` alone is often half of an
object, the ``kubectl.kubernetes.io/last-applied-configuration`` annotation repeats the whole
manifest, and images, env, volumes, probes of other containers, IPs and QoS class are never
read. Keeping them makes memory grow with the cluster. These transforms run on every listed
item and every watch event (rollouts.runtime.informer), before anything is stored.

What is kept, and who reads it (a field not listed here reads as absent from the caches; a
new reader of the caches must add its field here, and its test to tests/unit/test_trim.py):

- **Pod** (rollouts.guardrails.readiness, rollouts.guardrails.pod_health, the selector match
  in rollouts.controller.shell.fetch, rollouts.controller.shell.pod_scope):
  ``metadata`` name, namespace, resourceVersion, labels, ownerReferences (kind, name,
  controller), creationTimestamp, deletionTimestamp; ``spec`` nodeName and, per container and
  init container, name and resources; ``status`` conditions (type, status, reason, message,
  lastTransitionTime) and, per (init) container status, name, ready, restartCount, state,
  lastState. Which pods are kept at all is rollouts.controller.shell.pod_scope's decision.
- **Deployment** (rollouts.guardrails.preflight and readiness, deployment_state and the
  selector in fetch, the replicas router, the reconciler's scale): ``metadata`` name,
  namespace, resourceVersion, generation, ownerReferences (apiVersion, kind, name, controller:
  a replaced candidate that is KServe's predictor is scaled through its InferenceService,
  rollouts.controller.shell.scaling.inference_service); ``spec`` replicas, selector, progressDeadlineSeconds
  and the pod template's ``kubectl.kubernetes.io/default-container`` annotation and pod spec —
  nodeSelector, tolerations, affinity.nodeAffinity, runtimeClassName,
  terminationGracePeriodSeconds and, per container, name, resources and the three probes;
  ``status`` replicas, updatedReplicas, readyReplicas, availableReplicas, observedGeneration,
  conditions (type, status, reason, message).
- **Node** (rollouts.guardrails.readiness, rollouts.guardrails.headroom): ``metadata`` name,
  resourceVersion and labels (a GPU budget's preflight matches the candidate's nodeSelector),
  ``spec`` unschedulable, ``status`` allocatable. Capacity, taints and conditions are not read
  by any guardrail.
- **HorizontalPodAutoscaler, KEDA ScaledObject** (rollouts.guardrails.autoscalers, read by
  fetch and the reconciler's handover): ``metadata`` name, namespace, resourceVersion,
  ownerReferences (KEDA's own HPA names its ScaledObject there); ``spec`` scaleTargetRef and
  the bounds of every kind (rollouts.guardrails.autoscalers.SHAPES). Not their status
  (current metrics, desired size), which changes at every sync and which no rule reads.
- **ModelRollout, HTTPRoute**: everything except ``managedFields`` and the last-applied
  annotation (the reconciler writes status from the cached rollout, and the Gateway API
  router patches routes with ``test`` operations on what it read).

Every transform returns a new object and never changes the one it is given. Fields are copied
only when present, so "absent" still reads as absent and ``null`` as ``null``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from rollouts.guardrails.autoscalers import SHAPES
from rollouts.guardrails.preflight import DEFAULT_CONTAINER_ANNOTATION
from rollouts.runtime.kube import KubeObject

LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"
"""The annotation ``kubectl apply`` writes: the whole manifest again, as a string."""

_POD_METADATA = (
    "name",
    "namespace",
    "resourceVersion",
    "labels",
    "creationTimestamp",
    "deletionTimestamp",
)
_OWNER_REFERENCE = ("kind", "name", "controller")
_POD_CONTAINER = ("name", "resources")
_CONDITION = ("type", "status", "reason", "message", "lastTransitionTime")
_CONTAINER_STATUS = ("name", "ready", "restartCount", "state", "lastState")

_DEPLOYMENT_METADATA = ("name", "namespace", "resourceVersion", "generation")
_DEPLOYMENT_OWNER = ("apiVersion", *_OWNER_REFERENCE)
_DEPLOYMENT_SPEC = ("replicas", "selector", "progressDeadlineSeconds")
_TEMPLATE_POD_SPEC = ("nodeSelector", "tolerations", "runtimeClassName", "terminationGracePeriodSeconds")
_TEMPLATE_CONTAINER = ("name", "resources", "readinessProbe", "livenessProbe", "startupProbe")
_DEPLOYMENT_STATUS = (
    "replicas",
    "updatedReplicas",
    "readyReplicas",
    "availableReplicas",
    "observedGeneration",
)
_DEPLOYMENT_CONDITION = ("type", "status", "reason", "message")

_NODE_METADATA = ("name", "resourceVersion", "labels")

_AUTOSCALER_METADATA = ("name", "namespace", "resourceVersion", "ownerReferences")
_AUTOSCALER_SPEC = (
    "scaleTargetRef",
    *sorted({field for shape in SHAPES.values() for field in (shape.min_field, shape.max_field)}),
)


def _pick(source: object, keys: Iterable[str]) -> dict[str, Any]:
    """The entries of ``source`` named ``keys`` that are present (nothing for a non-mapping)."""
    if not isinstance(source, Mapping):
        return {}
    return {key: source[key] for key in keys if key in source}


def _pick_each(source: object, key: str, keys: Iterable[str]) -> dict[str, Any]:
    """``{key: [each entry of source[key], picked]}``, or nothing when ``source[key]`` is absent."""
    if not isinstance(source, Mapping) or key not in source:
        return {}
    entries = source[key]
    if not isinstance(entries, list):
        return {key: entries}  # malformed: kept as is, the readers report it as they would
    wanted = tuple(keys)
    return {key: [_pick(entry, wanted) if isinstance(entry, Mapping) else entry for entry in entries]}


def _section(obj: Mapping[str, Any], name: str, kept: dict[str, Any]) -> dict[str, Any]:
    """``{name: kept}`` when the object has the section at all (so absent stays absent)."""
    return {name: kept} if name in obj else {}


def trim_pod(pod: KubeObject) -> KubeObject:
    """A pod with only what the controller reads (see the module docstring)."""
    metadata = pod.get("metadata") or {}
    spec = pod.get("spec") or {}
    status = pod.get("status") or {}
    kept_metadata = {
        **_pick(metadata, _POD_METADATA),
        **_pick_each(metadata, "ownerReferences", _OWNER_REFERENCE),
    }
    kept_spec = {
        **_pick(spec, ("nodeName",)),
        **_pick_each(spec, "containers", _POD_CONTAINER),
        **_pick_each(spec, "initContainers", _POD_CONTAINER),
    }
    kept_status = {
        **_pick_each(status, "conditions", _CONDITION),
        **_pick_each(status, "containerStatuses", _CONTAINER_STATUS),
        **_pick_each(status, "initContainerStatuses", _CONTAINER_STATUS),
    }
    return {
        "metadata": kept_metadata,
        **_section(pod, "spec", kept_spec),
        **_section(pod, "status", kept_status),
    }


def _template(template: object) -> dict[str, Any]:
    """A Deployment's pod template, with what preflight reads."""
    if not isinstance(template, Mapping):
        return {}
    kept: dict[str, Any] = {}
    annotations = (template.get("metadata") or {}).get("annotations") or {}
    if isinstance(annotations, Mapping) and DEFAULT_CONTAINER_ANNOTATION in annotations:
        kept["metadata"] = {
            "annotations": {DEFAULT_CONTAINER_ANNOTATION: annotations[DEFAULT_CONTAINER_ANNOTATION]}
        }
    if "spec" in template:
        pod_spec = template["spec"] or {}
        affinity = pod_spec.get("affinity") if isinstance(pod_spec, Mapping) else None
        kept["spec"] = {
            **_pick(pod_spec, _TEMPLATE_POD_SPEC),
            **_pick_each(pod_spec, "containers", _TEMPLATE_CONTAINER),
            **({"affinity": _pick(affinity, ("nodeAffinity",))} if isinstance(affinity, Mapping) else {}),
        }
    return kept


def trim_deployment(deployment: KubeObject) -> KubeObject:
    """A Deployment with only what the controller reads (see the module docstring)."""
    metadata = deployment.get("metadata") or {}
    spec = deployment.get("spec") or {}
    status = deployment.get("status") or {}
    kept_spec = _pick(spec, _DEPLOYMENT_SPEC)
    if isinstance(spec, Mapping) and "template" in spec:
        kept_spec["template"] = _template(spec["template"])
    kept_status = {
        **_pick(status, _DEPLOYMENT_STATUS),
        **_pick_each(status, "conditions", _DEPLOYMENT_CONDITION),
    }
    return {
        "metadata": {
            **_pick(metadata, _DEPLOYMENT_METADATA),
            **_pick_each(metadata, "ownerReferences", _DEPLOYMENT_OWNER),
        },
        **_section(deployment, "spec", kept_spec),
        **_section(deployment, "status", kept_status),
    }


def trim_node(node: KubeObject) -> KubeObject:
    """A Node with only what the controller reads: name, labels, unschedulable, allocatable."""
    status = node.get("status") or {}
    return {
        "metadata": _pick(node.get("metadata"), _NODE_METADATA),
        **_section(node, "spec", _pick(node.get("spec") or {}, ("unschedulable",))),
        **_section(node, "status", _pick(status, ("allocatable",))),
    }


def trim_autoscaler(autoscaler: KubeObject) -> KubeObject:
    """An autoscaler of any kind with only what the controller reads: its target, bounds, owner."""
    return {
        "metadata": _pick(autoscaler.get("metadata"), _AUTOSCALER_METADATA),
        **_section(autoscaler, "spec", _pick(autoscaler.get("spec") or {}, _AUTOSCALER_SPEC)),
    }


def drop_bookkeeping(obj: KubeObject) -> KubeObject:
    """The object without ``managedFields`` and the last-applied annotation; all else kept."""
    metadata = obj.get("metadata") or {}
    annotations = metadata.get("annotations")
    if "managedFields" not in metadata and not (
        isinstance(annotations, Mapping) and LAST_APPLIED in annotations
    ):
        return obj
    kept_metadata = {key: item for key, item in metadata.items() if key != "managedFields"}
    if isinstance(annotations, Mapping) and LAST_APPLIED in annotations:
        kept_metadata["annotations"] = {key: item for key, item in annotations.items() if key != LAST_APPLIED}
    return {**obj, "metadata": kept_metadata}
