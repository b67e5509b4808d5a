"""Which router serves which ``spec.traffic`` key: one line per router kind."""

from __future__ import annotations

from rollouts.api.spec import Traffic
from rollouts.routers.base import Router, RouterError, RouterFactory, RouterTarget
from rollouts.routers.gateway_api import GatewayAPIRouter
from rollouts.routers.istio import IstioRouter
from rollouts.routers.kserve import KServeRouter
from rollouts.routers.replicas import ReplicasRouter

FACTORIES: dict[str, RouterFactory] = {
    "gatewayAPI": GatewayAPIRouter.create,
    "istio": IstioRouter.create,
    "kserve": KServeRouter.create,
    "replicas": ReplicasRouter.create,
}


def router_for(traffic: Traffic, target: RouterTarget) -> Router:
    """The router for ``spec.traffic``; :class:`RouterError` for a type this build lacks."""
    kind = traffic.chosen()
    factory = FACTORIES.get(kind)
    if factory is None:
        raise RouterError(f"spec.traffic.{kind}: no router of that type in this version of the controller")
    return factory(traffic, target)
