"""Which traffic model serves which ``spec.traffic`` key: one line per router kind."""

from __future__ import annotations

from rollouts.api.spec import Traffic
from rollouts.traffic.base import RouterError, TrafficModel
from rollouts.traffic.gateway_api import GatewayAPITraffic
from rollouts.traffic.istio import IstioTraffic
from rollouts.traffic.kserve import KServeTraffic
from rollouts.traffic.replicas import ReplicasTraffic

MODELS: dict[str, TrafficModel] = {
    "gatewayAPI": GatewayAPITraffic(),
    "istio": IstioTraffic(),
    "kserve": KServeTraffic(),
    "replicas": ReplicasTraffic(),
}


def traffic_model(traffic: Traffic) -> TrafficModel:
    """The model of the router kind ``spec.traffic`` sets; :class:`RouterError` for an unknown one."""
    kind = traffic.chosen()
    model = MODELS.get(kind)
    if model is None:
        raise RouterError(f"spec.traffic.{kind}: no router of that type in this version of the controller")
    return model
