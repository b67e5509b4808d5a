"""The router Protocol, and the target every router acts on.

Reads go through :attr:`RouterTarget.read`: in the controller, the informers' caches (an
HTTPRoute or Deployment read costs no API call); in the CLI (``abort --direct``), live reads.
Writes always go to the API server and check what they read (the Gateway API router's JSON
patch ``test`` ops), so a stale cache can delay a write by one retry but never overwrite.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from rollouts.api.spec import HeaderMatch, Traffic
from rollouts.runtime.kube import Kube, KubeObject, NotFound, PatchTestFailed, PatchType, Resource
from rollouts.traffic.base import RouterError, Routing

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

    def set_mirror(self, percent: int) -> None:
        """Mirror ``percent`` of requests to the candidate; 0 removes the mirror (idempotent)."""

    def set_header_route(self, match: tuple[HeaderMatch, ...]) -> None:
        """Route requests matching ``match`` to the candidate; () removes the route (idempotent)."""

    def get_routing(self) -> Routing:
        """What the routing object configures now: share, mirror and header route."""

    def reset(self) -> None:
        """All traffic to the baseline now, no mirror, no header route (abort without a controller)."""


PATCH_ATTEMPTS = 3
"""How often a router's guarded JSON patch is tried (the first from the cache, then live reads)."""

JsonPatch = list[dict[str, Any]]


def patch_as_read(
    target: RouterTarget, resource: Resource, name: str, build: Callable[[KubeObject], JsonPatch]
) -> None:
    """Read ``name``, build a JSON patch whose ``test`` ops guard what was read, send it.

    The first read is the target's (the controller's cache); when the API server finds a
    ``test`` false (an edit since, or a cache that lags), the object is read live and the patch
    built again, :data:`PATCH_ATTEMPTS` times in all. An empty patch means nothing to do.
    :class:`RouterError` when the object is missing (and whatever ``build`` raises).
    """
    for attempt in range(PATCH_ATTEMPTS):
        obj = (target.get_live if attempt else target.get)(resource, name)
        if obj is None:
            raise RouterError(f"{resource.kind} {target.namespace}/{name} not found")
        patch = build(obj)
        if not patch:
            return
        try:
            target.kube.patch(resource, name, patch, PatchType.JSON, target.namespace)
            return
        except PatchTestFailed:
            if attempt == PATCH_ATTEMPTS - 1:
                raise


class RouterFactory(Protocol):
    """``spec.traffic`` and the target → a router; :class:`RouterError` when it cannot be built."""

    def __call__(self, traffic: Traffic, target: RouterTarget) -> Router:
        """A router for ``target``."""


__all__ = [
    "PATCH_ATTEMPTS",
    "JsonPatch",
    "ObjectReader",
    "Router",
    "RouterError",
    "RouterFactory",
    "RouterTarget",
    "Routing",
    "patch_as_read",
]
