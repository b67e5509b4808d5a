"""The router Protocol, and the target every router acts on.

Reads go through :attr:`RouterTarget.read`: in the controller, the informers' caches (an
HTTPRoute or Deployment read costs no API call); in the CLI (``abort --direct``), live reads.
Writes always go to the API server and check what they read (the Gateway API router's JSON
patch ``test`` ops), so a stale cache can delay a write by one retry but never overwrite.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from rollouts.api.spec import Traffic
from rollouts.runtime.kube import Kube, KubeObject, NotFound, Resource
from rollouts.traffic.base import RouterError

ObjectReader = Callable[[Resource, str], KubeObject | None]
"""(resource, name) in the rollout's namespace → the object, or None when it does not exist."""


@dataclass(frozen=True)
class RouterTarget:
    """What a router acts on: the rollout's namespace, Deployments and how to read objects."""

    kube: Kube
    namespace: str
    baseline: str
    candidate: str
    replaced: tuple[str, ...] = ()
    """Candidate Deployments of earlier rollouts still being stopped (their pods may serve)."""
    read: ObjectReader | None = None
    """A cache to read from; None reads live."""

    def get(self, resource: Resource, name: str) -> KubeObject | None:
        """``name`` as the cache (or, without one, the API server) has it; None when absent."""
        if self.read is not None:
            return self.read(resource, name)
        return self.get_live(resource, name)

    def get_live(self, resource: Resource, name: str) -> KubeObject | None:
        """``name`` from the API server now; None when absent."""
        try:
            return self.kube.get(resource, name, self.namespace)
        except NotFound:
            return None


class Router(Protocol):
    """Moves and reports the candidate's share of traffic."""

    def set_weight(self, weight: int) -> None:
        """Ask for ``weight`` percent of traffic to the candidate (idempotent)."""

    def get_weight(self) -> float:
        """The candidate's share of traffic the data plane is configured with, in [0, 1]."""

    def reset(self) -> None:
        """Send all traffic to the baseline now (abort without a controller)."""


class RouterFactory(Protocol):
    """``spec.traffic`` and the target → a router; :class:`RouterError` when it cannot be built."""

    def __call__(self, traffic: Traffic, target: RouterTarget) -> Router:
        """A router for ``target``."""


__all__ = ["ObjectReader", "Router", "RouterError", "RouterFactory", "RouterTarget"]
