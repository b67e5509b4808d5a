"""Autoscalers as the rollout sees them: which Deployment each one sizes, within which bounds.

A HorizontalPodAutoscaler owns its target's size: whatever else writes ``spec.replicas`` is
undone at the autoscaler's next sync. So the rollout must know, for the Deployments it names,
whether an autoscaler sizes them — to stop sizing the baseline while one does, to hand the
baseline's autoscaler to the promoted candidate, and to refuse a rollout that would fight an
autoscaler it was not told about (rollouts.guardrails.preflight, rules ``Autoscaler*``).

The kinds differ only in :data:`SHAPES`: where an object keeps its bounds and their defaults.
Both name their target in ``spec.scaleTargetRef`` (:data:`TARGET_NAME`, the field the handover
moves). A KEDA ScaledObject sizes its target through an HPA KEDA makes and owns (named
``keda-hpa-<scaledobject>`` by default): that HPA is KEDA's copy of the ScaledObject, rewritten
from it at every KEDA sync, so it is read as the ScaledObject's (:attr:`Autoscaler.owner`),
never as a second autoscaler, and never moved itself (KEDA would put its target back).

:func:`autoscaler_of` reads one object as a plain dict, like the other guardrails: a target
that is not a Deployment reads as no target (it sizes nothing a rollout names), missing bounds
read as the kind's defaults.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from rollouts.api.spec import AutoscalerKind, AutoscalerRef
from rollouts.guardrails.objects import KubeObject, mappings, name_of, number, text

TARGET_NAME = ("spec", "scaleTargetRef", "name")
"""Where every kind names the Deployment it sizes: the field the handover rewrites."""

KEDA_API_GROUP = "keda.sh"


@dataclass(frozen=True)
class AutoscalerShape:
    """Where one kind keeps its bounds, their defaults, and its target kind when left out.

    ``default_target_kind``: "" where the field is required (an HPA), "Deployment" for a
    ScaledObject (KEDA's default).
    """

    min_field: str
    max_field: str
    min_default: int
    max_default: int
    default_target_kind: str = ""


SHAPES: Mapping[AutoscalerKind, AutoscalerShape] = {
    AutoscalerKind.HPA: AutoscalerShape("minReplicas", "maxReplicas", 1, 1),
    AutoscalerKind.SCALED_OBJECT: AutoscalerShape(
        "minReplicaCount", "maxReplicaCount", 0, 100, default_target_kind="Deployment"
    ),
}
"""Every kind a rollout can name (Kubernetes' and KEDA's documented defaults)."""


@dataclass(frozen=True)
class Autoscaler:
    """One autoscaler: its name, the Deployment it sizes ("" when none) and its bounds.

    ``owner``: for an HPA KEDA made, the ScaledObject it is a copy of ("" for any other).
    ``managed_by``: the kind of its controller owner reference ("" when none) — an
    InferenceService for the HPA KServe makes in raw mode, which KServe would move back.
    """

    name: str
    target: str
    min_replicas: int = 1
    max_replicas: int = 1
    kind: AutoscalerKind = AutoscalerKind.HPA
    owner: str = ""
    managed_by: str = ""

    def holds(self, replicas: int) -> bool:
        """Whether the autoscaler leaves a Deployment of ``replicas`` at that size."""
        return self.min_replicas <= replicas <= self.max_replicas

    def named(self, kind: AutoscalerKind, name: str) -> bool:
        """Whether this is the autoscaler ``kind`` ``name`` (names are unique per kind only)."""
        return self.kind is kind and self.name == name


def autoscaler_of(obj: KubeObject, kind: AutoscalerKind = AutoscalerKind.HPA) -> Autoscaler:
    """An autoscaler of ``kind`` as plain data (listed objects carry no ``kind`` of their own).

    >>> hpa = autoscaler_of({"metadata": {"name": "a"}, "spec": {"maxReplicas": 5,
    ...     "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"}}})
    >>> hpa.target, hpa.min_replicas, hpa.max_replicas
    ('web', 1, 5)
    >>> autoscaler_of({"metadata": {"name": "a"}, "spec": {"scaleTargetRef": {"name": "web"}}},
    ...     AutoscalerKind.SCALED_OBJECT).target
    'web'
    """
    shape = SHAPES[kind]
    spec = obj.get("spec")
    target_kind = text(spec, "scaleTargetRef", "kind") or shape.default_target_kind
    return Autoscaler(
        name=name_of(obj),
        target=text(obj, *TARGET_NAME) if target_kind == "Deployment" else "",
        min_replicas=number(spec, shape.min_field, default=shape.min_default),
        max_replicas=number(spec, shape.max_field, default=shape.max_default),
        kind=kind,
        owner=_scaled_object_owner(obj) if kind is AutoscalerKind.HPA else "",
        managed_by=next(
            (
                text(ref, "kind")
                for ref in mappings(obj, "metadata", "ownerReferences")
                if ref.get("controller")
            ),
            "",
        ),
    )


def _scaled_object_owner(obj: KubeObject) -> str:
    """The ScaledObject an HPA is KEDA's copy of: its owner reference, "" when none."""
    for ref in mappings(obj, "metadata", "ownerReferences"):
        if text(ref, "kind") == AutoscalerKind.SCALED_OBJECT and text(ref, "apiVersion").startswith(
            f"{KEDA_API_GROUP}/"
        ):
            return text(ref, "name")
    return ""


def others(autoscalers: Iterable[Autoscaler], named: AutoscalerRef | None) -> Iterable[Autoscaler]:
    """The autoscalers that are not the ``named`` one (None: none is named), nor KEDA's copies.

    KEDA's HPA is left out wherever its ScaledObject is known, named or listed: the ScaledObject
    stands for it (checked, and moved, as the ScaledObject), so counting the HPA as well would
    make every ScaledObject conflict with itself.
    """
    found = tuple(autoscalers)
    scaled = {a.name for a in found if a.kind is AutoscalerKind.SCALED_OBJECT}
    if named is not None and named.kind is AutoscalerKind.SCALED_OBJECT:
        scaled.add(named.name)
    return (
        a
        for a in found
        if not (named is not None and a.named(named.kind, named.name)) and a.owner not in scaled
    )
