"""Autoscalers as the rollout sees them: which Deployment each one sizes, within which bounds.

A HorizontalPodAutoscaler owns its target's size: whatever else writes ``spec.replicas`` is
undone at the autoscaler's next sync. So the rollout must know, for the Deployments it names,
whether an autoscaler sizes them — to stop sizing the baseline while one does, to hand the
baseline's autoscaler to the promoted candidate, and to refuse a rollout that would fight an
autoscaler it was not told about (rollouts.guardrails.preflight, rules ``Autoscaler*``).

:func:`autoscaler_of` reads one ``autoscaling/v2`` object as a plain dict, like the other
guardrails: a target that is not a Deployment reads as no target (it sizes nothing a rollout
names), missing bounds read as Kubernetes' defaults.
"""

from __future__ import annotations

from dataclasses import dataclass

from rollouts.guardrails.objects import KubeObject, name_of, number, text

HPA_KIND = "HorizontalPodAutoscaler"

HPA_MIN_REPLICAS_DEFAULT = 1
"""Kubernetes' default ``spec.minReplicas``."""


@dataclass(frozen=True)
class Autoscaler:
    """One autoscaler: its name, the Deployment it sizes ("" when none) and its bounds."""

    name: str
    target: str
    min_replicas: int = HPA_MIN_REPLICAS_DEFAULT
    max_replicas: int = HPA_MIN_REPLICAS_DEFAULT
    kind: str = HPA_KIND

    def holds(self, replicas: int) -> bool:
        """Whether the autoscaler leaves a Deployment of ``replicas`` at that size."""
        return self.min_replicas <= replicas <= self.max_replicas


def autoscaler_of(obj: KubeObject) -> Autoscaler:
    """An ``autoscaling/v2`` HorizontalPodAutoscaler as plain data.

    >>> autoscaler_of({"metadata": {"name": "a"}, "spec": {"maxReplicas": 5,
    ...     "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"}}})
    Autoscaler(name='a', target='web', min_replicas=1, max_replicas=5, kind='HorizontalPodAutoscaler')
    """
    spec = obj.get("spec")
    kind = text(spec, "scaleTargetRef", "kind")
    return Autoscaler(
        name=name_of(obj),
        target=text(spec, "scaleTargetRef", "name") if kind == "Deployment" else "",
        min_replicas=number(spec, "minReplicas", default=HPA_MIN_REPLICAS_DEFAULT),
        max_replicas=number(spec, "maxReplicas", default=HPA_MIN_REPLICAS_DEFAULT),
    )
