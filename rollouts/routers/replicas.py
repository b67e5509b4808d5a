"""The replicas router: no mesh, one Service in front of both Deployments.

The Service spreads requests over every Ready pod, so the candidate's share of traffic is its
share of Ready pods: ``ready_c / (ready_b + ready_c + ready_r)``, where ``ready_r`` counts the
Ready pods of replaced candidates still being stopped (they sit behind the same Service). That
share is what :meth:`ReplicasRouter.get_weight` reports — it rounds the asked weight, and status
shows it as ``effectiveWeight``. The sizes themselves come from the traffic model's replica plan
(:mod:`rollouts.traffic.replicas`), applied with the rest of a decision, so
:meth:`ReplicasRouter.set_weight` has nothing left to do. :meth:`ReplicasRouter.reset` scales the
candidate to 0 — the one way to stop its traffic without a mesh — for ``rollouts abort
--direct`` while the controller is down.

It can neither mirror nor match headers (a Service has no such filter): the spec refuses
setMirror and setHeaderRoute steps with this router, and :meth:`ReplicasRouter.set_mirror` and
:meth:`ReplicasRouter.set_header_route` raise :class:`RouterError` for anything but "none".

A known limit, stated in the README: every Ready candidate pod receives traffic, so checks
after the readiness probe (readyQuery, accelerator placement) can stop the rollout and roll it
back, but cannot keep the first candidate pod's share of traffic away. Use a Gateway API route
where that matters.
"""

from __future__ import annotations

from dataclasses import dataclass

from rollouts.api.spec import HeaderMatch, Traffic
from rollouts.routers.base import RouterError, RouterTarget, Routing
from rollouts.runtime.kube import DEPLOYMENTS, PatchType


@dataclass(frozen=True)
class ReplicasRouter:
    """Traffic share = share of Ready pods between the Deployments behind one Service."""

    target: RouterTarget

    @classmethod
    def create(cls, traffic: Traffic, target: RouterTarget) -> ReplicasRouter:
        """Build for the target's Deployments (``spec.traffic.replicas`` has no fields)."""
        del traffic
        return cls(target)

    def _ready(self, deployment: str, required: bool = True, live: bool = False) -> int:
        target = self.target
        obj = (target.get_live if live else target.get)(DEPLOYMENTS, deployment)
        if obj is None:
            if not required:
                return 0
            raise RouterError(f"Deployment {target.namespace}/{deployment} not found")
        return int(obj.get("status", {}).get("readyReplicas") or 0)

    def get_weight(self) -> float:
        """The candidate's share of Ready pods (replaced candidates' pods count as others)."""
        target = self.target
        baseline, candidate = self._ready(target.baseline), self._ready(target.candidate)
        others = sum(self._ready(name, required=False) for name in target.replaced)
        total = baseline + candidate + others
        return candidate / total if total else 0.0

    def set_weight(self, weight: int) -> None:
        """Nothing: the replica plan applied with the decision sets the share."""
        del weight

    def set_mirror(self, percent: int) -> None:
        """Nothing for 0; a Service cannot mirror, so any other percent is a RouterError."""
        if percent:
            raise RouterError("the replicas router cannot mirror requests: use the gatewayAPI router")

    def set_header_route(self, match: tuple[HeaderMatch, ...]) -> None:
        """Nothing for (); a Service cannot match headers, so any match is a RouterError."""
        if match:
            raise RouterError("the replicas router cannot route by header: use the gatewayAPI router")

    def get_routing(self) -> Routing:
        """The pod share; never a mirror or a header route."""
        return Routing(share=self.get_weight())

    def reset(self) -> None:
        """Scale the candidate to 0 replicas — refused while the baseline has no Ready pod.

        Without a mesh the candidate's pods are its traffic, so with the baseline at 0 (after a
        ``setWeight: 100`` step) stopping them would leave nothing serving: the error says to
        scale the baseline up first. The controller itself hands over pod by pod.
        """
        target = self.target
        if self._ready(target.baseline, required=False, live=True) == 0:
            raise RouterError(
                f"Deployment {target.namespace}/{target.baseline} has no Ready pod: scaling "
                f"{target.candidate} to 0 would leave nothing serving; scale {target.baseline} up first "
                f"(kubectl -n {target.namespace} scale deployment {target.baseline} --replicas=N)"
            )
        target.kube.patch(
            DEPLOYMENTS,
            target.candidate,
            {"spec": {"replicas": 0}},
            PatchType.MERGE,
            target.namespace,
            subresource="scale",
        )
