"""Istio router specs that ``rollouts lint`` and the API server must both refuse, at one field.

Run through lint by tests/unit/test_istio.py and through a real kube-apiserver (the CRD's CEL
rules) by tests/integration/test_istio_router.py, so the two say the same thing.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

from tests.cases.rollouts import valid_rollout

ISTIO = {
    "virtualService": "fraud-scorer",
    "route": "primary",
    "baseline": {"host": "fraud-scorer", "subset": "v1"},
    "candidate": {"host": "fraud-scorer", "subset": "v2"},
}
HEADER_STEP = {"setHeaderRoute": {"match": [{"name": "x-canary", "value": "always"}]}}


def istio_rollout(
    name: str = "fraud-scorer", steps: list[dict[str, Any]] | None = None, **istio: Any
) -> dict[str, Any]:
    """The valid rollout of tests.cases.rollouts routed by Istio (``istio``: keys to set; None drops)."""
    rollout = valid_rollout(name=name)
    merged = {**copy.deepcopy(ISTIO), **istio}
    rollout["spec"]["traffic"] = {"istio": {key: value for key, value in merged.items() if value is not None}}
    if steps is not None:
        rollout["spec"]["steps"] = steps
    return rollout


@dataclass(frozen=True)
class Refused:
    """An Istio spec both checkers refuse: the field they name and a fragment of the message."""

    name: str
    rollout: dict[str, Any]
    path: str
    message: str


REFUSED = (
    Refused(
        "route-and-index",
        istio_rollout(routeIndex=0),
        "spec.traffic.istio.route",
        "exactly one of route and routeIndex must be set",
    ),
    Refused(
        "neither-route-nor-index",
        istio_rollout(route=None),
        "spec.traffic.istio.route",
        "exactly one of route and routeIndex must be set",
    ),
    Refused(
        "same-destination",
        istio_rollout(candidate={"host": "fraud-scorer", "subset": "v1"}),
        "spec.traffic.istio.candidate",
        "baseline and candidate must be different destinations",
    ),
    Refused(
        "header-route-by-index",
        istio_rollout(route=None, routeIndex=0, steps=[HEADER_STEP, {"setWeight": 10}]),
        "spec.traffic.istio.routeIndex",
        "setHeaderRoute with the istio router needs traffic.istio.route",
    ),
)
