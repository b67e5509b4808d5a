"""Traffic routers: one small Protocol, one file per implementation, looked up by type.

The controller owns the Protocol (:class:`Router`): set the candidate's weight, read the share
the data plane actually gives it, and send everything back to the baseline. Each router type
of ``spec.traffic`` has one module here; :func:`router_for` picks it by the key that is set, and
an unknown key is a spec error, never a silent fallback.
"""

from __future__ import annotations

from typing import Protocol

from rollouts.api.spec import Traffic
from rollouts.runtime.kube import Kube


class RouterError(Exception):
    """The router cannot do its job with the objects as they are; the message says what to fix."""


class Router(Protocol):
    """Moves and reports the candidate's share of traffic."""

    def set_weight(self, weight: int) -> None:
        """Ask for ``weight`` percent of traffic to the candidate (idempotent)."""

    def get_weight(self) -> float:
        """The candidate's share of traffic the data plane is configured with, in [0, 1]."""

    def reset(self) -> None:
        """Send all traffic to the baseline now (abort without a controller)."""


class RouterFactory(Protocol):
    """(kube, traffic, namespace, baseline Deployment, candidate Deployment; replaced) → router."""

    def __call__(
        self,
        kube: Kube,
        traffic: Traffic,
        namespace: str,
        baseline: str,
        candidate: str,
        *,
        replaced: tuple[str, ...] = (),
    ) -> Router:
        """A router for those objects; :class:`RouterError` when it cannot be built."""


def router_for(
    kube: Kube,
    traffic: Traffic,
    namespace: str,
    baseline: str,
    candidate: str,
    *,
    replaced: tuple[str, ...] = (),
) -> Router:
    """The router for ``spec.traffic``; :class:`RouterError` for a type this build lacks.

    ``replaced``: candidate Deployments of earlier rollouts still being stopped; a router whose
    share depends on what serves (replicas) counts them.
    """
    from rollouts.routers.gateway_api import GatewayAPIRouter  # noqa: PLC0415  (avoid cycles)
    from rollouts.routers.replicas import ReplicasRouter  # noqa: PLC0415

    factories: dict[str, RouterFactory] = {
        "gatewayAPI": GatewayAPIRouter.create,
        "replicas": ReplicasRouter.create,
    }
    kind = traffic.chosen()
    factory = factories.get(kind)
    if factory is None:
        raise RouterError(f"spec.traffic.{kind}: no router of that type in this version of the controller")
    return factory(kube, traffic, namespace, baseline, candidate, replaced=replaced)
