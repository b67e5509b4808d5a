"""The replicas router: no mesh, one Service in front of both Deployments.

The Service spreads requests over every Ready pod, so the candidate's share of traffic is its
share of Ready pods: ``ready_c / (ready_b + ready_c)``. That share is what :meth:`get_weight`
reports — it rounds the asked weight, and status shows it as ``effectiveWeight``.

The sizes themselves come from the controller's replica plan
(:func:`rollouts.controller.steps.replica_plan`), applied with the rest of a decision, so
:meth:`set_weight` has nothing left to do. :meth:`reset` scales the candidate to 0 — the one way
to stop its traffic without a mesh — for ``rollouts abort --direct`` while the controller is down.

A known limit, stated in the README: every Ready candidate pod receives traffic, so checks
after the readiness probe (readyQuery, accelerator placement) can stop the rollout and roll it
back, but cannot keep the first candidate pod's share of traffic away. Use a Gateway API route
where that matters.
"""

from __future__ import annotations

from dataclasses import dataclass

from rollouts.api.spec import Traffic
from rollouts.routers import RouterError
from rollouts.runtime.kube import DEPLOYMENTS, Kube, NotFound, PatchType


@dataclass(frozen=True)
class ReplicasRouter:
    """Traffic share = share of Ready pods between two Deployments behind one Service."""

    kube: Kube
    namespace: str
    baseline: str
    candidate: str

    @classmethod
    def create(
        cls, kube: Kube, traffic: Traffic, namespace: str, baseline: str, candidate: str
    ) -> ReplicasRouter:
        """Build for the two Deployments (``spec.traffic.replicas`` has no fields)."""
        del traffic
        return cls(kube, namespace, baseline, candidate)

    def _ready(self, deployment: str) -> int:
        try:
            obj = self.kube.get(DEPLOYMENTS, deployment, self.namespace)
        except NotFound as missing:
            raise RouterError(f"Deployment {self.namespace}/{deployment} not found") from missing
        return int(obj.get("status", {}).get("readyReplicas") or 0)

    def get_weight(self) -> float:
        """The candidate's share of Ready pods."""
        baseline, candidate = self._ready(self.baseline), self._ready(self.candidate)
        total = baseline + candidate
        return candidate / total if total else 0.0

    def set_weight(self, weight: int) -> None:
        """Nothing: the replica plan applied with the decision sets the share."""
        del weight

    def reset(self) -> None:
        """Scale the candidate to 0 replicas."""
        self.kube.patch(
            DEPLOYMENTS,
            self.candidate,
            {"spec": {"replicas": 0}},
            PatchType.MERGE,
            self.namespace,
            subresource="scale",
        )
