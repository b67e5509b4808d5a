"""The replicas router: no mesh, one Service in front of both Deployments.

The Service spreads requests over every Ready pod, so the candidate's share of traffic is its
share of Ready pods: ``ready_c / (ready_b + ready_c + ready_r)``, where ``ready_r`` counts the
Ready pods of replaced candidates still being stopped (they sit behind the same Service). That
share is what :meth:`get_weight` reports — it rounds the asked weight, and status shows it as
``effectiveWeight``.

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
    replaced: tuple[str, ...] = ()

    @classmethod
    def create(
        cls,
        kube: Kube,
        traffic: Traffic,
        namespace: str,
        baseline: str,
        candidate: str,
        *,
        replaced: tuple[str, ...] = (),
    ) -> ReplicasRouter:
        """Build for the Deployments (``spec.traffic.replicas`` has no fields)."""
        del traffic
        return cls(kube, namespace, baseline, candidate, replaced)

    def _ready(self, deployment: str, required: bool = True) -> int:
        try:
            obj = self.kube.get(DEPLOYMENTS, deployment, self.namespace)
        except NotFound as missing:
            if not required:
                return 0
            raise RouterError(f"Deployment {self.namespace}/{deployment} not found") from missing
        return int(obj.get("status", {}).get("readyReplicas") or 0)

    def get_weight(self) -> float:
        """The candidate's share of Ready pods (replaced candidates' pods count as others)."""
        baseline, candidate = self._ready(self.baseline), self._ready(self.candidate)
        others = sum(self._ready(name, required=False) for name in self.replaced)
        total = baseline + candidate + others
        return candidate / total if total else 0.0

    def set_weight(self, weight: int) -> None:
        """Nothing: the replica plan applied with the decision sets the share."""
        del weight

    def reset(self) -> None:
        """Scale the candidate to 0 replicas — refused while the baseline has no Ready pod.

        Without a mesh the candidate's pods are its traffic, so with the baseline at 0 (after a
        ``setWeight: 100`` step) stopping them would leave nothing serving: the error says to
        scale the baseline up first. The controller itself hands over pod by pod.
        """
        if self._ready(self.baseline, required=False) == 0:
            raise RouterError(
                f"Deployment {self.namespace}/{self.baseline} has no Ready pod: scaling "
                f"{self.candidate} to 0 would leave nothing serving; scale {self.baseline} up first "
                f"(kubectl -n {self.namespace} scale deployment {self.baseline} --replicas=N)"
            )
        self.kube.patch(
            DEPLOYMENTS,
            self.candidate,
            {"spec": {"replicas": 0}},
            PatchType.MERGE,
            self.namespace,
            subresource="scale",
        )
